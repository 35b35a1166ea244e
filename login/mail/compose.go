package mail

import (
	"fmt"
	"html"
	"io"
	"regexp"
	"strings"

	gomail "github.com/wneessen/go-mail"
)

// compose builds the whole message m from the sender address from: RFC 5322
// headers and a multipart/alternative body of a text/plain part (m.Text)
// and a text/html part (m.HTML, or HTML(m.Lang, m.Text) if it is empty),
// both UTF-8.
func compose(from string, m Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithCharset(gomail.CharsetUTF8))
	if err := msg.From(from); err != nil {
		return nil, fmt.Errorf("%w: sender address: %w", ErrRejected, err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("%w: recipient address %q: %w", ErrRejected, m.To, err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageID()
	// RFC 3834: automatic replies must not answer this message.
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	if m.Lang != "" {
		msg.SetGenHeader(gomail.HeaderContentLang, m.Lang)
	}
	body := m.HTML
	if body == "" {
		body = HTML(m.Lang, m.Text)
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, body)
	return msg, nil
}

// Write writes m, sent by from, to w as a whole RFC 5322 message, as SMTP
// would deliver it.
func Write(w io.Writer, from string, m Message) error {
	msg, err := compose(from, m)
	if err != nil {
		return err
	}
	if _, err := msg.WriteTo(w); err != nil {
		return fmt.Errorf("mail: write message: %w", err)
	}
	return nil
}

var (
	codeParagraph = regexp.MustCompile(`^\p{Nd}{4,10}$`)
	linkParagraph = regexp.MustCompile(`^https?://\S+$`)
)

// HTML returns text as a simple HTML document in the language lang (a BCP
// 47 tag such as "en" or "ru"; empty leaves it unsaid). Each paragraph of
// text (separated by a blank line) becomes a paragraph, its line breaks
// kept; a paragraph that is only a URL becomes a link to it, and one that
// is only digits (a one-time code) is set large. Everything from text is
// HTML-escaped.
func HTML(lang, text string) string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html")
	if lang != "" {
		fmt.Fprintf(&b, ` lang="%s"`, html.EscapeString(lang))
	}
	b.WriteString(">\n<head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"></head>\n")
	b.WriteString(`<body style="margin:0;padding:24px;background:#f6f6f6;font-family:-apple-system,'Segoe UI',Roboto,Arial,sans-serif;font-size:16px;line-height:1.5;color:#1a1a1a">` + "\n")
	b.WriteString(`<div style="max-width:560px;margin:0 auto;padding:24px;background:#ffffff;border:1px solid #d0d0d0;border-radius:8px">` + "\n")
	for p := range strings.SplitSeq(strings.ReplaceAll(strings.TrimSpace(text), "\r\n", "\n"), "\n\n") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		e := html.EscapeString(p)
		switch {
		case codeParagraph.MatchString(p):
			fmt.Fprintf(&b, `<p style="font-size:28px;font-weight:bold;letter-spacing:4px;font-family:ui-monospace,Menlo,Consolas,monospace">%s</p>`+"\n", e)
		case linkParagraph.MatchString(p):
			fmt.Fprintf(&b, `<p><a href="%s" style="color:#0b57d0;word-break:break-all">%s</a></p>`+"\n", e, e)
		default:
			fmt.Fprintf(&b, "<p>%s</p>\n", strings.ReplaceAll(e, "\n", "<br>\n"))
		}
	}
	b.WriteString("</div>\n</body>\n</html>\n")
	return b.String()
}
