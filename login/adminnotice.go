package login

import (
	"github.com/gatehouse-idp/gatehouse/login/i18n"
	"github.com/gatehouse-idp/gatehouse/login/mail"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// AdminChange is a change an administrator made to a user's account that
// the user is told of by email, as they are of the changes they make
// themselves (NIST SP 800-63B §6.1.2.3: the subscriber is notified when
// an authenticator is removed).
type AdminChange int

const (
	// AdminFactorsReset: every second factor was removed (reset-2fa).
	AdminFactorsReset AdminChange = iota + 1
	// AdminDisabled: the account was disabled.
	AdminDisabled
)

// adminChangeSubject and adminChangeText are the subject and text of the
// email of each AdminChange; whole sentences, so that they translate.
var (
	adminChangeSubject = map[AdminChange]string{
		AdminFactorsReset: "Two-factor authentication changed",
		AdminDisabled:     "Your Gatehouse account was disabled",
	}
	adminChangeText = map[AdminChange]string{
		AdminFactorsReset: "An administrator removed every second factor of your Gatehouse account (authenticator app, email codes, security keys and recovery codes) and signed you out everywhere. You sign in with your password alone until you set up a second factor again.\n\nIf you did not ask for this, contact your administrator.\n",
		AdminDisabled:     "An administrator disabled your Gatehouse account and signed you out everywhere: you cannot sign in until it is enabled again.\n\nIf you think this is a mistake, contact your administrator.\n",
	}
)

// AdminChangeMail is the security email, in lang, that tells u of c. The
// admin service sends it through the server's mailer, the one the login's
// security emails go through (SMTP or the mail outbox).
func AdminChangeMail(lang i18n.Lang, u *storage.User, c AdminChange) mail.Message {
	return mail.Message{To: u.Email, Subject: i18n.T(lang, adminChangeSubject[c]), Text: i18n.T(lang, adminChangeText[c]), Lang: string(lang)}
}
