package mail

import (
	"context"
	"errors"
	"testing"
)

// recorder keeps the messages sent to it and answers err.
type recorder struct {
	sent []Message
	err  error
}

func (r *recorder) Send(_ context.Context, m Message) error {
	r.sent = append(r.sent, m)
	return r.err
}

func TestBranded(t *testing.T) {
	m := Message{To: "alice@example.com", Subject: "Your Gatehouse code", Lang: "ru",
		Text: "Ваш одноразовый код для учётной записи Gatehouse: 123456", HTML: "<p>Gatehouse</p>"}
	for _, tc := range []struct {
		name, brand string
		want        Message
	}{
		{"default", "", m},
		{"same name", "Gatehouse", m},
		{"brand", "Axxon Datacenter", Message{To: m.To, Subject: "Your Axxon Datacenter code", Lang: "ru",
			Text: "Ваш одноразовый код для учётной записи Axxon Datacenter: 123456", HTML: "<p>Axxon Datacenter</p>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{}
			if err := (Branded{Sender: r, Name: tc.brand}).Send(t.Context(), m); err != nil {
				t.Fatal(err)
			}
			if len(r.sent) != 1 || r.sent[0] != tc.want {
				t.Errorf("sent %+v, want %+v", r.sent, tc.want)
			}
		})
	}
	r := &recorder{err: ErrRejected}
	if err := (Branded{Sender: r, Name: "X"}).Send(context.Background(), m); !errors.Is(err, ErrRejected) {
		t.Errorf("the sender's error is lost: %v", err)
	}
}
