package login

import (
	"html/template"
	"maps"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-idp/gatehouse/login/i18n"
	"github.com/gatehouse-idp/gatehouse/login/mail"
)

// Brand is the operator's product as the pages show it (the configuration's
// brand section). The zero Brand is Gatehouse's own.
type Brand struct {
	// Name replaces "Gatehouse" in every page's text and title.
	Name string
	// Logo is the URL of the header's logo; "" shows the name alone.
	Logo string
	// PrimaryColor is the light theme's colour of links and buttons,
	// #rrggbb (checked for contrast by the configuration); "" keeps the
	// built-in one.
	PrimaryColor string
	// SupportURL, SupportEmail, PrivacyURL and TermsURL are the footer's
	// links; "" shows none.
	SupportURL, SupportEmail, PrivacyURL, TermsURL string
}

// BrandCSSPath serves the stylesheet that sets the brand's colour.
const BrandCSSPath = "/brand.css"

// name is the product's name: the brand's, or Gatehouse.
func (b Brand) name() string {
	if b.Name == "" {
		return mail.ProductName
	}
	return b.Name
}

// brandFuncs returns the page templates' functions with b: t and tf name
// the brand instead of Gatehouse, and brand returns b with its name set.
func brandFuncs(b Brand) template.FuncMap {
	name := b.name()
	b.Name = name
	rename := func(s string) string {
		if name == mail.ProductName {
			return s
		}
		return strings.ReplaceAll(s, mail.ProductName, name)
	}
	funcs := maps.Clone(templateFuncs)
	funcs["t"] = func(lang, s string) string { return rename(i18n.T(i18n.Lang(lang), s)) }
	funcs["tf"] = func(lang, format string, args ...any) string {
		return rename(i18n.Tf(i18n.Lang(lang), format, args...))
	}
	funcs["brand"] = func() Brand { return b }
	return funcs
}

// serveBrandCSS serves the brand's colour as the light theme's accent; the
// dark theme keeps its own, which the colour could not also suit.
func (h *Handler) serveBrandCSS(w http.ResponseWriter, r *http.Request) {
	css := "/* no brand colour */\n"
	if c := h.Brand.PrimaryColor; isHexColor(c) {
		css = "@media (prefers-color-scheme: light) {\n  :root { --accent: " + c + "; --accent-fg: #fff; }\n}\n"
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("Content-Length", strconv.Itoa(len(css)))
	w.Write([]byte(css))
}

// isHexColor reports whether s is a colour written #rrggbb, the only form
// put in the stylesheet.
func isHexColor(s string) bool {
	if len(s) != len("#rrggbb") || s[0] != '#' {
		return false
	}
	for _, c := range s[1:] {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}
