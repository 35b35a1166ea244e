// Package mail sends Gatehouse's one-time codes and security notices by
// email.
//
// A Sender delivers one Message. SMTP delivers it through a mail server
// with wneessen/go-mail, synchronously and within a fixed time limit, so
// that a sign-in page can tell the user at once that the code could not be
// sent. Its errors say whether trying again may help (ErrUnavailable: the
// server could not be reached, did not answer in time, or answered with a
// temporary 4xx failure) or not (ErrRejected: a permanent 5xx reply or an
// address that cannot be used); they never contain the message body.
//
// Log is the development sender used when no SMTP server is configured: it
// logs that a message was not sent, with its recipient masked and its
// subject redacted (digits and token-like words), never its body, so
// one-time codes and link tokens do not reach the log. Outbox keeps
// messages in memory for tests, which read codes from it.
package mail
