package i18n

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// verbRE finds fmt verbs, %% included.
var verbRE = regexp.MustCompile(`%(\[\d+\])?[-+# 0]*(\d+|\*)?(\.(\d+|\*))?[a-zA-Z%]`)

// verbs returns the fmt verbs of s, sorted, without %%.
func verbs(s string) []string {
	var v []string
	for _, m := range verbRE.FindAllString(s, -1) {
		if m != "%%" {
			v = append(v, m)
		}
	}
	slices.Sort(v)
	return v
}

// TestCatalogVerbs checks that every translation formats the same
// arguments as its English key, and that its plural choices name an
// integer argument.
func TestCatalogVerbs(t *testing.T) {
	for lang, cat := range catalogs {
		for en, tr := range cat {
			if tr == "" {
				t.Errorf("%s: empty translation of %q", lang, en)
				continue
			}
			plain := pluralRE.ReplaceAllString(tr, "")
			if got, want := verbs(plain), verbs(en); !slices.Equal(got, want) {
				t.Errorf("%s: %q has verbs %v, its key %q has %v", lang, tr, got, en, want)
			}
			if strings.ContainsAny(plain, "{}") {
				t.Errorf("%s: %q has a malformed plural choice", lang, tr)
			}
			keyVerbs := verbRE.FindAllString(en, -1)
			for _, m := range pluralRE.FindAllStringSubmatch(tr, -1) {
				i, _ := strconv.Atoi(m[1])
				if i < 1 || i > len(keyVerbs) || keyVerbs[i-1] != "%d" {
					t.Errorf("%s: %q chooses a plural by argument %d, which is not a %%d of %q", lang, tr, i, en)
				}
				if n := strings.Count(m[2], "|") + 1; n != 3 {
					t.Errorf("%s: %q gives %d plural forms, want 3", lang, tr, n)
				}
			}
			if strings.HasSuffix(en, "\n") != strings.HasSuffix(tr, "\n") {
				t.Errorf("%s: %q and its key differ in the final newline", lang, tr)
			}
		}
	}
}

func TestSeedMessages(t *testing.T) {
	const wrong = "Invalid One Time Password! (Attempts left: %d)"
	const blocked = "You have reached the limit of attempts. Please try again later in %d minutes."
	for _, c := range []struct {
		lang   Lang
		format string
		n      int
		want   string
	}{
		{English, wrong, 2, "Invalid One Time Password! (Attempts left: 2)"},
		{English, blocked, 1, "You have reached the limit of attempts. Please try again later in 1 minutes."},
		{English, blocked, 10, "You have reached the limit of attempts. Please try again later in 10 minutes."},
		{Russian, wrong, 2, "Неверный одноразовый пароль! (Осталось попыток: 2)"},
		{Russian, wrong, 1, "Неверный одноразовый пароль! (Осталось попыток: 1)"},
		{Russian, blocked, 10, "Вы исчерпали лимит попыток. Повторите попытку через 10 минут."},
		{Russian, blocked, 1, "Вы исчерпали лимит попыток. Повторите попытку через 1 минуту."},
		{Russian, blocked, 2, "Вы исчерпали лимит попыток. Повторите попытку через 2 минуты."},
		{Russian, blocked, 5, "Вы исчерпали лимит попыток. Повторите попытку через 5 минут."},
		{Russian, blocked, 21, "Вы исчерпали лимит попыток. Повторите попытку через 21 минуту."},
	} {
		if got := Tf(c.lang, c.format, c.n); got != c.want {
			t.Errorf("Tf(%s, %q, %d) = %q, want %q", c.lang, c.format, c.n, got, c.want)
		}
	}
	// English needs no table: unknown and known keys come back as they are.
	for _, s := range []string{"Sign in", "Not in the catalog"} {
		if got := T(English, s); got != s {
			t.Errorf("T(en, %q) = %q", s, got)
		}
	}
	if got := T(Russian, "Not in the catalog"); got != "Not in the catalog" {
		t.Errorf("T(ru) of an unknown text = %q", got)
	}
}

func TestPlural(t *testing.T) {
	forms := []string{"минуту", "минуты", "минут"}
	want := map[int]string{0: "минут", 1: "минуту", 2: "минуты", 3: "минуты", 4: "минуты", 5: "минут",
		10: "минут", 11: "минут", 12: "минут", 14: "минут", 15: "минут", 20: "минут", 21: "минуту",
		22: "минуты", 25: "минут", 101: "минуту", 111: "минут", 112: "минут", 122: "минуты"}
	for n, w := range want {
		if got := Plural(Russian, n, forms...); got != w {
			t.Errorf("Plural(ru, %d) = %q, want %q", n, got, w)
		}
	}
	if got := Plural(English, 1, "minute", "minutes"); got != "minute" {
		t.Errorf("Plural(en, 1) = %q", got)
	}
	if got := Plural(English, 2, "minute", "minutes"); got != "minutes" {
		t.Errorf("Plural(en, 2) = %q", got)
	}
	if got := Tf(Russian, "A code was sent a moment ago. You can ask for another one in %d seconds.", 23); !strings.HasSuffix(got, "через 23 секунды.") {
		t.Errorf("cooldown in Russian: %q", got)
	}
}

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		name     string
		explicit string
		ui       []string
		accept   string
		want     Lang
	}{
		{"nothing", "", nil, "", English},
		{"accept ru", "", nil, "ru-RU,ru;q=0.9", Russian},
		{"accept en first", "", nil, "en-US,en;q=0.9,ru;q=0.8", English},
		{"accept ru first", "", nil, "ru;q=0.9,en;q=0.5", Russian},
		{"accept unsupported", "", nil, "de-CH,fr;q=0.8", English},
		{"accept unsupported then ru", "", nil, "de-CH,ru;q=0.5", Russian},
		{"accept garbage", "", nil, ";;;q=x,,", English},
		{"accept too long", "", nil, "ru," + strings.Repeat("x", 2000), English},
		{"ui_locales beats accept", "", []string{"ru"}, "en-US", Russian},
		{"ui_locales en beats accept ru", "", []string{"en"}, "ru-RU", English},
		{"ui_locales order", "", []string{"de-CH", "ru", "en"}, "", Russian},
		{"ui_locales unsupported falls to accept", "", []string{"de", "fr"}, "ru", Russian},
		{"ui_locales unparsable", "", []string{"!!"}, "ru", Russian},
		{"explicit beats ui_locales and accept", "en", []string{"ru"}, "ru", English},
		{"explicit ru", "ru", []string{"en"}, "en", Russian},
		{"explicit unknown ignored", "de", []string{"ru"}, "en", Russian},
		{"explicit garbage ignored", "<x>", nil, "ru", Russian},
	} {
		if got := Match(c.explicit, c.ui, c.accept); got != c.want {
			t.Errorf("%s: Match(%q, %q, %q) = %s, want %s", c.name, c.explicit, c.ui, c.accept, got, c.want)
		}
	}
}

func TestParse(t *testing.T) {
	for s, want := range map[string]Lang{"en": English, "ru": Russian, "RU": Russian} {
		if l, ok := Parse(s); !ok || l != want {
			t.Errorf("Parse(%q) = %q %v", s, l, ok)
		}
	}
	for _, s := range []string{"", "de", "ru-RU", "english"} {
		if _, ok := Parse(s); ok {
			t.Errorf("Parse(%q) ok", s)
		}
	}
	if English.Name() != "English" || Russian.Name() != "Русский" {
		t.Errorf("names %q %q", English.Name(), Russian.Name())
	}
}

func TestFormatTime(t *testing.T) {
	at := time.Date(2026, time.March, 2, 15, 4, 5, 0, time.FixedZone("X", 3*3600)) // 12:04 UTC
	for _, c := range []struct {
		got, want string
	}{
		{FormatTime(English, at), "2 Mar 2026 12:04 UTC"},
		{FormatTime(Russian, at), "2 марта 2026, 12:04 UTC"},
		{FormatTimeShort(English, at), "2 Mar 12:04 UTC"},
		{FormatTimeShort(Russian, at), "2 марта, 12:04 UTC"},
		{FormatTime(Russian, time.Date(2006, time.January, 2, 15, 4, 0, 0, time.UTC)), "2 января 2006, 15:04 UTC"},
		{FormatTime(English, time.Date(2006, time.January, 2, 15, 4, 0, 0, time.UTC)), "2 Jan 2006 15:04 UTC"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	for m := time.January; m <= time.December; m++ {
		s := FormatTime(Russian, time.Date(2026, m, 1, 0, 0, 0, 0, time.UTC))
		if !strings.HasPrefix(s, "1 "+monthsGenitive[m-1]+" 2026") {
			t.Errorf("%s: %q", m, s)
		}
	}
}
