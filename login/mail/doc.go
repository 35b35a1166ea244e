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
// Every message goes out as multipart/alternative, a text/plain and a
// text/html part in UTF-8; HTML makes the HTML part from the text when a
// Message has none, and Write writes a whole message as SMTP sends it.
//
// Dir is the development sender used when no SMTP server is configured,
// the mail outbox: it writes each message whole to a new .eml file (mode
// 0600) in a directory (mode 0700), and logs only the file's name and the
// masked recipient, so one-time codes and link tokens do not reach the
// log. Log only logs that a message was not sent. Outbox keeps messages in
// memory for tests, which read codes from it.
package mail
