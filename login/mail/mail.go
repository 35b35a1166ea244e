package mail

import (
	"context"
	"errors"
	"fmt"
	netmail "net/mail"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// Errors returned by SMTP.Send, wrapped with details.
var (
	// ErrUnavailable means the message was not sent but may be if tried
	// again later: the server could not be reached, did not answer in time,
	// or answered with a temporary (4xx) failure.
	ErrUnavailable = errors.New("mail: server unavailable")
	// ErrRejected means the message was refused for good: the server
	// answered with a permanent (5xx) failure, or an address is unusable.
	ErrRejected = errors.New("mail: message rejected")
)

// A Message is one email. It goes out as multipart/alternative: Text is
// the plain-text part; HTML is the HTML part, shown by mail clients that
// can, and if empty is made from Text by the function HTML.
type Message struct {
	To      string // one address, "alice@example.com" or "Alice <alice@example.com>"
	Subject string
	Text    string
	HTML    string
	Lang    string // language of the message, "en" or "ru": Content-Language and <html lang>
}

// A Sender sends messages. Send returns once the message has been handed
// over (or has failed to be) and must honour ctx.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// redacted replaces an address that maskAddress cannot mask.
const redacted = "[redacted]"

// maskAddress returns the address in to with its local part cut to its
// first character, as in "a***@example.com", and without the display
// name; or "[redacted]" if to is not an address.
func maskAddress(to string) string {
	a, err := netmail.ParseAddress(to)
	if err != nil {
		return redacted
	}
	local, domain, ok := strings.Cut(a.Address, "@")
	if !ok || local == "" {
		return redacted
	}
	_, size := utf8.DecodeRuneInString(local)
	return local[:size] + "***@" + domain
}

// Outbox is a Sender that keeps messages in memory, for tests and
// development tools that read one-time codes from it. The zero value is
// ready to use; an Outbox must not be copied after first use.
type Outbox struct {
	mu       sync.Mutex
	messages []Message
	err      error
	changed  chan struct{} // closed and replaced on every recorded message
}

// Send records m, or returns the error set by SetErr without recording it.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return o.err
	}
	o.messages = append(o.messages, m)
	if o.changed != nil {
		close(o.changed)
		o.changed = nil
	}
	return nil
}

// SetErr makes later calls to Send fail with err, without recording the
// message, until it is called again with nil. Tests use it to play a mail
// server that is down.
func (o *Outbox) SetErr(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.err = err
}

// Messages returns a copy of the messages sent so far, oldest first.
func (o *Outbox) Messages() []Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.messages)
}

// Last returns the most recent message sent to the address to, compared
// exactly, and whether there was one.
func (o *Outbox) Last(to string) (Message, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.messages) - 1; i >= 0; i-- {
		if o.messages[i].To == to {
			return o.messages[i], true
		}
	}
	return Message{}, false
}

// Wait returns the n-th message (counting from 1) sent to the address to,
// waiting for it to be sent if need be, or ctx's error if ctx is done
// first.
func (o *Outbox) Wait(ctx context.Context, to string, n int) (Message, error) {
	if n < 1 {
		return Message{}, errors.New("mail: Outbox.Wait: n must be at least 1")
	}
	for {
		o.mu.Lock()
		seen := 0
		for _, m := range o.messages {
			if m.To == to {
				seen++
				if seen == n {
					o.mu.Unlock()
					return m, nil
				}
			}
		}
		if o.changed == nil {
			o.changed = make(chan struct{})
		}
		changed := o.changed
		o.mu.Unlock()

		select {
		case <-changed:
		case <-ctx.Done():
			return Message{}, fmt.Errorf("mail: waiting for message %d to %s: %w", n, to, context.Cause(ctx))
		}
	}
}
