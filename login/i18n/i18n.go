// Package i18n holds the languages of Gatehouse's pages and emails: English
// (the default) and Russian.
//
// Messages are written in English in the code and the templates; the
// English text is the key of the Russian catalog, so English needs no table
// and its messages stay exactly as written. A Russian translation may add
// plural forms that agree with a number argument: {N:one|few|many} picks a
// form for argument N (counted from 1) by Russian plural rules, as in
// "через %d {1:минуту|минуты|минут}".
//
// Match picks a language for a request: an explicit choice (the page's
// switcher), then the OpenID request's ui_locales, then Accept-Language,
// then English.
package i18n

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/language"
)

// A Lang is a language of the pages, named by its BCP 47 tag.
type Lang string

// The languages Gatehouse speaks.
const (
	English Lang = "en"
	Russian Lang = "ru"
)

// Default is the language when nothing asks for another.
const Default = English

// Langs lists the languages in the order the switcher shows them.
var Langs = []Lang{English, Russian}

// names are the languages' names in themselves.
var names = map[Lang]string{English: "English", Russian: "Русский"}

// Name returns the language's name in itself: "English", "Русский".
func (l Lang) Name() string { return names[l] }

// String returns the tag, "en" or "ru".
func (l Lang) String() string { return string(l) }

// Parse returns the language named exactly by s ("en" or "ru", any case).
func Parse(s string) (Lang, bool) {
	l := Lang(strings.ToLower(strings.TrimSpace(s)))
	_, ok := names[l]
	return l, ok
}

// matcher matches requested tags to Langs, index for index.
var matcher = language.NewMatcher([]language.Tag{language.English, language.Russian})

// maxAcceptLanguage bounds the Accept-Language header Match parses.
const maxAcceptLanguage = 1024

// Match chooses the language of a request: explicit (the language chosen
// with the switcher, "" if none), then uiLocales (the OpenID request's
// ui_locales, in order of preference, when the page belongs to a sign-in),
// then the Accept-Language header, then English. A list that names no
// supported language is passed over.
func Match(explicit string, uiLocales []string, acceptLanguage string) Lang {
	if l, ok := Parse(explicit); ok {
		return l
	}
	var tags []language.Tag
	for _, s := range uiLocales {
		if t, err := language.Parse(s); err == nil {
			tags = append(tags, t)
		}
	}
	if l, ok := match(tags); ok {
		return l
	}
	if len(acceptLanguage) <= maxAcceptLanguage {
		tags, _, _ := language.ParseAcceptLanguage(acceptLanguage)
		if l, ok := match(tags); ok {
			return l
		}
	}
	return Default
}

func match(tags []language.Tag) (Lang, bool) {
	if len(tags) == 0 {
		return "", false
	}
	_, i, c := matcher.Match(tags...)
	if c == language.No {
		return "", false
	}
	return Langs[i], true
}

// T returns the translation of english into lang, or english itself when
// lang is English or the catalog has no translation.
func T(lang Lang, english string) string {
	if s, ok := catalogs[lang][english]; ok {
		return s
	}
	return english
}

// pluralRE finds the plural choices of a translation: {N:one|few|many}.
var pluralRE = regexp.MustCompile(`\{(\d+):([^{}|]*(?:\|[^{}|]*)*)\}`)

// Tf translates the format englishFormat into lang, chooses its plural
// forms by the arguments, and formats it with fmt.Sprintf.
func Tf(lang Lang, englishFormat string, args ...any) string {
	format := T(lang, englishFormat)
	if strings.IndexByte(format, '{') >= 0 {
		format = pluralRE.ReplaceAllStringFunc(format, func(m string) string {
			sub := pluralRE.FindStringSubmatch(m)
			i, _ := strconv.Atoi(sub[1])
			n, ok := intArg(args, i-1)
			if !ok {
				return m
			}
			return Plural(lang, n, strings.Split(sub[2], "|")...)
		})
	}
	return fmt.Sprintf(format, args...)
}

// intArg returns args[i] as an int, if it is an integer.
func intArg(args []any, i int) (int, bool) {
	if i < 0 || i >= len(args) {
		return 0, false
	}
	switch v := args[i].(type) {
	case int:
		return v, true
	case int64:
		return int(v), true
	case int32:
		return int(v), true
	case uint:
		return int(v), true
	case uint64:
		return int(v), true
	}
	return 0, false
}

// Plural returns the form of a word that agrees with the number n: forms
// are one and other for English (minute, minutes), one, few and many for
// Russian (минута, минуты, минут). A missing form falls back to the last
// one given.
func Plural(lang Lang, n int, forms ...string) string {
	if len(forms) == 0 {
		return ""
	}
	i := pluralIndex(lang, n)
	if i >= len(forms) {
		i = len(forms) - 1
	}
	return forms[i]
}

// pluralIndex is the CLDR plural category of n: for English 0 (one) or 1
// (other); for Russian 0 (one: 1, 21, 31…), 1 (few: 2–4, 22–24…) or 2
// (many: 0, 5–20, 25–30…).
func pluralIndex(lang Lang, n int) int {
	if n < 0 {
		n = -n
	}
	if lang != Russian {
		if n == 1 {
			return 0
		}
		return 1
	}
	switch mod10, mod100 := n%10, n%100; {
	case mod10 == 1 && mod100 != 11:
		return 0
	case mod10 >= 2 && mod10 <= 4 && (mod100 < 12 || mod100 > 14):
		return 1
	}
	return 2
}

// monthsGenitive are the Russian month names as they follow a day number.
var monthsGenitive = [...]string{"января", "февраля", "марта", "апреля", "мая", "июня",
	"июля", "августа", "сентября", "октября", "ноября", "декабря"}

// FormatTime formats t, in UTC, as a date and time in lang:
// "2 Jan 2006 15:04 UTC" or "2 января 2006, 15:04 UTC".
func FormatTime(lang Lang, t time.Time) string {
	t = t.UTC()
	if lang == Russian {
		return fmt.Sprintf("%d %s %d, %s UTC", t.Day(), monthsGenitive[t.Month()-1], t.Year(), t.Format("15:04"))
	}
	return t.Format("2 Jan 2006 15:04 UTC")
}

// FormatTimeShort is FormatTime without the year: "2 Jan 15:04 UTC" or
// "2 января, 15:04 UTC".
func FormatTimeShort(lang Lang, t time.Time) string {
	t = t.UTC()
	if lang == Russian {
		return fmt.Sprintf("%d %s, %s UTC", t.Day(), monthsGenitive[t.Month()-1], t.Format("15:04"))
	}
	return t.Format("2 Jan 15:04 UTC")
}
