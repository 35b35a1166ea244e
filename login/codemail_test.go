package login

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/login/i18n"
)

// TestCodeMessage checks that each code email says what its code is for,
// in the user's language, with the code on its own line and out of the
// subject unless CodeInSubject.
func TestCodeMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		purpose string
		lang    i18n.Lang
		says    string
		notYou  string
	}{
		{purposeSignIn, i18n.English, "finish signing in", "If you did not try to sign in, someone knows your password"},
		{purposeEnableEmail, i18n.English, "turn on email codes as a second factor", "If you did not ask for this"},
		{purposeDisableEmail, i18n.English, "turn off email codes as a second factor", "If you did not ask for this"},
		{purposeRegenerate, i18n.English, "create new recovery codes", "If you did not ask for this"},
		{purposeChangePassword, i18n.English, "change the password", "If you did not ask for this"},
		{purposeReauth, i18n.English, "confirm it is you", "If you did not ask for this"},
		{purposeRemoveKey, i18n.English, "remove a security key", "If you did not ask for this"},
		{purposeSignIn, i18n.Russian, "завершить вход", "Если вы не пытались войти"},
		{purposeEnableEmail, i18n.Russian, "включить коды по почте", "Если вы этого не запрашивали"},
	}
	for _, tt := range tests {
		t.Run(string(tt.lang)+"/"+tt.purpose, func(t *testing.T) {
			h := &Handler{EmailCodeTTL: 60 * time.Second}
			m := h.codeMessage(tt.lang, "alice@example.com", tt.purpose, "482910")
			if m.To != "alice@example.com" || m.Lang != string(tt.lang) {
				t.Errorf("To %q, Lang %q", m.To, m.Lang)
			}
			if !strings.Contains(m.Text, tt.says) || !strings.Contains(m.Text, tt.notYou) {
				t.Errorf("text does not say %q and %q:\n%s", tt.says, tt.notYou, m.Text)
			}
			if tt.purpose != purposeSignIn && strings.Contains(m.Text, "sign in") {
				t.Errorf("a %s code email speaks of signing in:\n%s", tt.purpose, m.Text)
			}
			if !strings.Contains(m.Text, "\n\n482910\n\n") {
				t.Errorf("the code is not on a line of its own:\n%s", m.Text)
			}
			if strings.Contains(m.Subject, "482910") {
				t.Errorf("subject %q holds the code", m.Subject)
			}
			h.CodeInSubject = true
			if m := h.codeMessage(tt.lang, "alice@example.com", tt.purpose, "482910"); !strings.HasSuffix(m.Subject, ": 482910") {
				t.Errorf("with CodeInSubject, subject %q", m.Subject)
			}
		})
	}
	seen := map[string]string{}
	for purpose, ct := range codeTexts {
		if p, dup := seen[ct.why]; dup {
			t.Errorf("purposes %s and %s share the sentence %q", p, purpose, ct.why)
		}
		seen[ct.why] = purpose
	}
}
