package main

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// End-to-end tests of the two languages (issue 4): English and Russian
// pages and emails, chosen by the page's switcher (the gh_lang cookie),
// then ui_locales, then Accept-Language. The seed product's messages keep
// their exact English text.

const (
	ruBadCredentials = "Неверный адрес электронной почты или пароль."
	ruWrong1         = "Неверный одноразовый пароль! (Осталось попыток: 2)"
	ruWrong2         = "Неверный одноразовый пароль! (Осталось попыток: 1)"
	ruBlocked10      = "Вы исчерпали лимит попыток. Повторите попытку через 10 минут."
	ruBlocked1       = "Вы исчерпали лимит попыток. Повторите попытку через 1 минуту."
	ruCodeSubject    = "Ваш код Gatehouse"
	ruBlockSubject   = "Входы в вашу учётную запись Gatehouse заблокированы"
)

var (
	ruOnly  = oauth2.SetAuthURLParam("ui_locales", "ru")
	enOnly  = oauth2.SetAuthURLParam("ui_locales", "en")
	ruLater = oauth2.SetAuthURLParam("ui_locales", "de-CH ru en")
)

func TestLanguages(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := tfStart(t, databaseURL(t, backend))
			t.Run("ui_locales", func(t *testing.T) { i18nUILocales(t, e) })
			t.Run("Accept-Language", func(t *testing.T) { i18nAcceptLanguage(t, e) })
			t.Run("English by default", func(t *testing.T) { i18nDefault(t, e) })
			t.Run("switcher", func(t *testing.T) { i18nSwitcher(t, e) })
			t.Run("error page of /authorize", func(t *testing.T) { i18nAuthorizeError(t, e) })
			t.Run("account pages and dates", func(t *testing.T) { i18nAccount(t, e) })
			t.Run("emailed code", func(t *testing.T) { i18nEmailCode(t, e) })
			t.Run("authenticator app, wrong codes and block", func(t *testing.T) { i18nTOTP(t, e) })
		})
	}
}

// i18nUILocales: ui_locales=ru gives the Russian sign-in page and messages.
func i18nUILocales(t *testing.T, e *tfEnv) {
	rp := tfRP(t, e.rp)
	for _, opt := range []oauth2.AuthCodeOption{ruOnly, ruLater} {
		b := newBrowser(t).from("127.0.20.1")
		page := i18nLoginPage(t, rp, b, opt)
		i18nExpectLang(t, page, "ru")
		for _, s := range []string{`<h1>Войти</h1>`, `<label for="email">Электронная почта</label>`,
			`<label for="password">Пароль</label>`, `<button type="submit">Войти</button>`,
			`для входа в <strong>Axxon Datacenter</strong>`, `>Забыли пароль?</a>`, `<title>Войти · Gatehouse</title>`} {
			if !strings.Contains(page.body, s) {
				t.Errorf("the Russian login page lacks %s:\n%s", s, page.body)
			}
		}
		for _, s := range []string{">Sign in<", ">Password<", "Forgot password?"} {
			if strings.Contains(page.body, s) {
				t.Errorf("the Russian login page shows %q", s)
			}
		}
		form := tfForm(t, page.body, "/login")
		form.Set("email", "nobody-ru@example.com")
		form.Set("password", "not the password")
		resp := b.post(e.g.base+"/login", form)
		tfExpect(t, resp, http.StatusUnauthorized, ruBadCredentials)
		i18nExpectLang(t, resp, "ru")
	}
	// ui_locales names the language before Accept-Language.
	b := newBrowser(t).from("127.0.20.1")
	b.header.Set("Accept-Language", "ru-RU,ru;q=0.9")
	i18nExpectLang(t, i18nLoginPage(t, rp, b, enOnly), "en")
}

// i18nAcceptLanguage: without ui_locales, Accept-Language decides.
func i18nAcceptLanguage(t *testing.T, e *tfEnv) {
	rp := tfRP(t, e.rp)
	b := newBrowser(t).from("127.0.20.2")
	b.header.Set("Accept-Language", "ru-RU,ru;q=0.9")
	page := i18nLoginPage(t, rp, b)
	i18nExpectLang(t, page, "ru")
	if !strings.Contains(page.body, `<label for="password">Пароль</label>`) {
		t.Errorf("Accept-Language ru: no Russian labels:\n%s", page.body)
	}
	form := tfForm(t, page.body, "/login")
	form.Set("email", "nobody-al@example.com")
	form.Set("password", "not the password")
	tfExpect(t, b.post(e.g.base+"/login", form), http.StatusUnauthorized, ruBadCredentials)

	// The self-service pages speak it too.
	for path, want := range map[string]string{
		"/register": "<h1>Создать учётную запись</h1>",
		"/recover":  "<h1>Забыли пароль?</h1>",
	} {
		p := b.get(e.g.base + path)
		i18nExpectLang(t, p, "ru")
		if !strings.Contains(p.body, want) {
			t.Errorf("%s in Russian lacks %s:\n%s", path, want, p.body)
		}
	}
	// A preference for English first keeps English.
	b2 := newBrowser(t).from("127.0.20.2")
	b2.header.Set("Accept-Language", "en-GB,en;q=0.9,ru;q=0.8")
	i18nExpectLang(t, i18nLoginPage(t, rp, b2), "en")
}

// i18nDefault: nothing asks for Russian, so the pages are English with the
// seed product's exact messages.
func i18nDefault(t *testing.T, e *tfEnv) {
	rp := tfRP(t, e.rp)
	for _, accept := range []string{"", "de-CH,fr;q=0.8"} {
		b := newBrowser(t).from("127.0.20.3")
		if accept != "" {
			b.header.Set("Accept-Language", accept)
		}
		page := i18nLoginPage(t, rp, b)
		i18nExpectLang(t, page, "en")
		for _, s := range []string{`<h1>Sign in</h1>`, `<label for="password">Password</label>`, `<button type="submit">Sign in</button>`,
			`to continue to <strong>Axxon Datacenter</strong>`} {
			if !strings.Contains(page.body, s) {
				t.Errorf("the English login page lacks %s", s)
			}
		}
		form := tfForm(t, page.body, "/login")
		form.Set("email", "nobody-en@example.com")
		form.Set("password", "not the password")
		tfExpect(t, b.post(e.g.base+"/login", form), http.StatusUnauthorized, "Invalid email or password.")
	}
}

// i18nSwitcher: the links on every page set the gh_lang cookie, which wins
// over ui_locales and Accept-Language; back must be a local path.
func i18nSwitcher(t *testing.T, e *tfEnv) {
	rp := tfRP(t, e.rp)
	b := newBrowser(t).from("127.0.20.4")
	b.header.Set("Accept-Language", "ru-RU,ru;q=0.9")
	page := i18nLoginPage(t, rp, b)
	i18nExpectLang(t, page, "ru")
	links := i18nSwitchLinks(t, page.body)
	if len(links) != 2 || links["en"] == nil || links["ru"] == nil {
		t.Fatalf("switcher links %v", links)
	}
	if !strings.Contains(page.body, `>English</a>`) || !strings.Contains(page.body, `>Русский</a>`) {
		t.Errorf("the switcher does not name the languages:\n%s", page.body)
	}
	back := links["en"].Query().Get("back")
	if !strings.HasPrefix(back, "/login?authRequestID=") {
		t.Fatalf("switcher back = %q, want this page", back)
	}

	// Choosing English: a cookie for a year, then back to the same page.
	resp := b.get(e.g.base + links["en"].String())
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != back {
		t.Fatalf("GET %s = %d %q, want 303 to %s", links["en"], resp.StatusCode, resp.Header.Get("Location"), back)
	}
	c := i18nCookie(resp, "gh_lang")
	if c == nil || c.Value != "en" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" ||
		c.MaxAge < 364*24*3600 || c.MaxAge > 366*24*3600 {
		t.Fatalf("language cookie %+v", c)
	}
	page = b.get(redirectTarget(resp))
	i18nExpectLang(t, page, "en")
	if !strings.Contains(page.body, `<h1>Sign in</h1>`) {
		t.Errorf("after choosing English:\n%s", page.body)
	}
	// The choice beats Accept-Language and ui_locales in new sign-ins.
	i18nExpectLang(t, i18nLoginPage(t, rp, b, ruOnly), "en")
	form := tfForm(t, page.body, "/login")
	form.Set("email", "nobody-sw@example.com")
	form.Set("password", "not the password")
	tfExpect(t, b.post(e.g.base+"/login", form), http.StatusUnauthorized, "Invalid email or password.")

	// And back to Russian.
	resp = b.get(e.g.base + "/lang?to=ru&back=" + url.QueryEscape(back))
	if c := i18nCookie(resp, "gh_lang"); resp.StatusCode != http.StatusSeeOther || c == nil || c.Value != "ru" {
		t.Fatalf("to=ru: %d cookie %+v", resp.StatusCode, c)
	}
	i18nExpectLang(t, b.get(redirectTarget(resp)), "ru")
	i18nExpectLang(t, i18nLoginPage(t, rp, b, enOnly), "ru")

	// back leaves the site never; an unknown language sets nothing.
	for _, bad := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "evil", "", "/\r\nSet-Cookie: x=y", "/ x"} {
		resp := newBrowser(t).get(e.g.base + "/lang?to=ru&back=" + url.QueryEscape(bad))
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
			t.Errorf("back=%q: %d %q, want 303 to /account", bad, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	resp = newBrowser(t).get(e.g.base + "/lang?to=de&back=%2Fsigned-out")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signed-out" || i18nCookie(resp, "gh_lang") != nil {
		t.Errorf("to=de: %d %q %v", resp.StatusCode, resp.Header.Get("Location"), resp.Header.Values("Set-Cookie"))
	}
	// A page shown after a POST offers the switch back to its step.
	b3 := newBrowser(t).from("127.0.20.4")
	page = i18nLoginPage(t, rp, b3)
	form = tfForm(t, page.body, "/login")
	form.Set("email", "nobody-sw@example.com")
	form.Set("password", "not the password")
	resp = b3.post(e.g.base+"/login", form)
	if got := i18nSwitchLinks(t, resp.body)["ru"]; got == nil || got.Query().Get("back") != "/login?authRequestID="+url.QueryEscape(form.Get("authRequestID")) {
		t.Errorf("switcher after POST /login: %v", got)
	}
}

// i18nAuthorizeError: an invalid request at /authorize is refused in the
// language its ui_locales asks for.
func i18nAuthorizeError(t *testing.T, e *tfEnv) {
	q := url.Values{"client_id": {"no-such-client"}, "redirect_uri": {rpRedirect}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"s"}, "ui_locales": {"ru"}}
	resp := newBrowser(t).get(e.g.base + "/authorize?" + q.Encode())
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("/authorize with an unknown client = %d:\n%s", resp.StatusCode, resp.body)
	}
	i18nExpectLang(t, resp, "ru")
	if !strings.Contains(resp.body, "<h1>Запрос на вход отклонён</h1>") || !strings.Contains(tfAlert(resp.body), "Приложение отправило неверный запрос на вход (") {
		t.Errorf("error page:\n%s", resp.body)
	}
	q.Del("ui_locales")
	resp = newBrowser(t).get(e.g.base + "/authorize?" + q.Encode())
	i18nExpectLang(t, resp, "en")
	if !strings.HasPrefix(tfAlert(resp.body), "The application sent an invalid sign-in request (") {
		t.Errorf("English error page:\n%s", resp.body)
	}
}

var ruDateRE = regexp.MustCompile(`<time datetime="[^"]+">\d{1,2} (января|февраля|марта|апреля|мая|июня|июля|августа|сентября|октября|ноября|декабря) \d{4}, \d\d:\d\d UTC</time>`)

// i18nAccount: the account pages in Russian, with dates in Russian.
func i18nAccount(t *testing.T, e *tfEnv) {
	u := e.newUser(t, "i18n-account@example.com")
	b := e.session(t, u, "127.0.20.5")
	page := b.get(e.g.base + "/account")
	i18nExpectLang(t, page, "en")
	if !regexp.MustCompile(`\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d UTC</time>`).MatchString(page.body) {
		t.Errorf("English account page without an English date:\n%s", page.body)
	}
	b.header.Set("Accept-Language", "ru")
	page = b.get(e.g.base + "/account")
	i18nExpectLang(t, page, "ru")
	for _, s := range []string{"<h1>Ваша учётная запись</h1>", "(этот браузер)", "Недавние события безопасности", "— Вход"} {
		if !strings.Contains(page.body, s) {
			t.Errorf("the Russian account page lacks %q:\n%s", s, page.body)
		}
	}
	if !ruDateRE.MatchString(page.body) {
		t.Errorf("the Russian account page has no Russian date:\n%s", page.body)
	}
	sec := e.security(t, b)
	i18nExpectLang(t, sec, "ru")
	if !strings.Contains(sec.body, "<h1>Двухфакторная аутентификация</h1>") || !strings.Contains(sec.body, ">Включить</button>") {
		t.Errorf("the Russian security page:\n%s", sec.body)
	}
}

// i18nEmailCode: a sign-in in Russian gets its emailed code in Russian.
func i18nEmailCode(t *testing.T, e *tfEnv) {
	rp := tfRP(t, e.rp)
	u := e.newUser(t, "i18n-email@example.com")
	e.enableEmail(t, e.session(t, u, "127.0.20.6"), u)

	b := newBrowser(t).from("127.0.20.7")
	f, resp := tfPassword(t, rp, b, u.email, u.pass, ruOnly)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login/otp?authRequestID=") {
		t.Fatalf("password = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	n := e.mail.count(u.email, ruCodeSubject)
	page := b.get(redirectTarget(resp))
	i18nExpectLang(t, page, "ru")
	if !regexp.MustCompile(`^Мы отправили 6-значный код на i•+@example\.com\.$`).MatchString(tfInfo(page.body)) ||
		!regexp.MustCompile(`Код действует ещё <span class="countdown" data-countdown="\d+">\d:\d\d</span>`).MatchString(page.body) {
		t.Errorf("code sent, in Russian: %q", tfInfo(page.body))
	}
	if !strings.Contains(page.body, "<p class=\"lead\">Введите 6-значный код, который мы отправили вам по почте.</p>") ||
		!strings.Contains(page.body, `<button type="submit">Применить</button>`) || !strings.Contains(page.body, `>Отправить снова</button>`) {
		t.Errorf("the Russian code page:\n%s", page.body)
	}
	e.mail.wait(t, u.email, ruCodeSubject, n+1)
	m := i18nLastMail(e.mail, u.email, ruCodeSubject)
	code := tfMailCode(m)
	if code == "" || m.subject != ruCodeSubject {
		t.Fatalf("Russian code email %q:\n%s", m.subject, m.raw)
	}
	if !strings.Contains(m.raw, "Введите этот код, чтобы завершить вход в учётную запись Gatehouse:") || !strings.Contains(m.raw, "Он действует 60 секунд.") {
		t.Errorf("the Russian code email:\n%s", m.raw)
	}
	if !strings.Contains(m.html, `<html lang="ru">`) || !strings.Contains(m.html, "Он действует 60 секунд.") {
		t.Errorf("the HTML part of the Russian code email:\n%s", m.html)
	}
	if e.mail.count(u.email, tfCodeSubject) != 1 { // the one that enabled email codes
		t.Errorf("an English code email went out for the Russian sign-in")
	}
	form := tfForm(t, page.body, "/login/otp")
	tfClaims(t, tfFinish(t, rp, b, f, tfPostCode(b, e.g.base+"/login/otp", form, code)), tfAMREmail, tfACREmail)
}

// i18nTOTP: wrong authenticator codes and the block, in Russian, with the
// minutes in the right plural form; the block email in Russian too.
func i18nTOTP(t *testing.T, e *tfEnv) {
	rp := tfRP(t, e.rp)
	u := e.newUser(t, "i18n-totp@example.com")
	e.enableTOTP(t, e.session(t, u, "127.0.20.8"), u)

	b := newBrowser(t).from("127.0.20.9")
	_, resp := tfPassword(t, rp, b, u.email, u.pass, ruOnly)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login/otp?authRequestID=") {
		t.Fatalf("password = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	page := b.get(redirectTarget(resp))
	i18nExpectLang(t, page, "ru")
	if !strings.Contains(page.body, "Введите 6-значный код из приложения-аутентификатора.") || !strings.Contains(page.body, "<h1>Двухфакторная аутентификация</h1>") {
		t.Errorf("the Russian code page:\n%s", page.body)
	}
	form := tfForm(t, page.body, "/login/otp")
	tfExpect(t, tfPostCode(b, e.g.base+"/login/otp", form, e.wrongTOTP(u)), http.StatusUnauthorized, ruWrong1)
	tfExpect(t, tfPostCode(b, e.g.base+"/login/otp", form, e.wrongTOTP(u)), http.StatusUnauthorized, ruWrong2)
	blockedAt := e.now()
	resp = tfPostCode(b, e.g.base+"/login/otp", form, e.wrongTOTP(u))
	tfExpect(t, resp, http.StatusTooManyRequests, ruBlocked10)
	i18nExpectLang(t, resp, "ru")
	e.mail.wait(t, u.email, ruBlockSubject, 1)
	if m := i18nLastMail(e.mail, u.email, ruBlockSubject); !strings.Contains(m.raw, "смените его") {
		t.Errorf("the Russian block email:\n%s", m.raw)
	}

	// Minutes count down in their plural forms; English keeps "minutes".
	e.advance(blockedAt.Add(9*time.Minute + 30*time.Second).Sub(e.now()))
	_, resp = tfPassword(t, rp, newBrowser(t).from("127.0.20.9"), u.email, u.pass, ruOnly)
	tfExpect(t, resp, http.StatusTooManyRequests, ruBlocked1)
	_, resp = tfPassword(t, rp, newBrowser(t).from("127.0.20.9"), u.email, u.pass)
	tfExpect(t, resp, http.StatusTooManyRequests, "You have reached the limit of attempts. Please try again later in 1 minutes.")
	e.advance(time.Minute)
}

// ---- helpers ----

// i18nLoginPage starts a sign-in in b and returns the password page.
func i18nLoginPage(t *testing.T, rp *relyingParty, b *browser, opts ...oauth2.AuthCodeOption) *response {
	t.Helper()
	f := rp.newFlow(opts...)
	page, at := b.follow(f.authURL, rpRedirect)
	if page == nil || !strings.Contains(page.body, `autocomplete="current-password"`) {
		t.Fatalf("no login page (landed at %s)", at)
	}
	return page
}

var i18nLangRE = regexp.MustCompile(`<html lang="([^"]*)">`)

func i18nExpectLang(t *testing.T, resp *response, want string) {
	t.Helper()
	m := i18nLangRE.FindStringSubmatch(resp.body)
	if m == nil || m[1] != want {
		t.Errorf("%s %s: <html lang> = %v, want %q", resp.Request.Method, resp.Request.URL.Path, m, want)
	}
}

var i18nSwitchRE = regexp.MustCompile(`<a href="(/lang\?[^"]*)"`)

// i18nSwitchLinks returns the switcher's links of page by language.
func i18nSwitchLinks(t *testing.T, page string) map[string]*url.URL {
	t.Helper()
	links := map[string]*url.URL{}
	for _, m := range i18nSwitchRE.FindAllStringSubmatch(page, -1) {
		u, err := url.Parse(html.UnescapeString(m[1]))
		if err != nil {
			t.Fatalf("switcher link %q: %v", m[1], err)
		}
		links[u.Query().Get("to")] = u
	}
	return links
}

func i18nCookie(resp *response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// i18nLastMail returns the newest message to whose subject starts with
// subject.
func i18nLastMail(s *tfSink, to, subject string) tfMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.msgs) - 1; i >= 0; i-- {
		if m := s.msgs[i]; slices.Contains(m.to, to) && strings.HasPrefix(m.subject, subject) {
			return m
		}
	}
	return tfMail{}
}
