package mail

import (
	"context"
	"strings"
)

// ProductName is how Gatehouse's emails name the product, in every
// language: Branded replaces it with the operator's brand.
const ProductName = "Gatehouse"

// Branded is a Sender that names the operator's product instead of
// Gatehouse: every ProductName in a message's subject, text and HTML
// becomes Name before Sender sends it.
type Branded struct {
	Sender
	Name string
}

// Send sends m, branded.
func (b Branded) Send(ctx context.Context, m Message) error {
	if b.Name != "" && b.Name != ProductName {
		m.Subject = strings.ReplaceAll(m.Subject, ProductName, b.Name)
		m.Text = strings.ReplaceAll(m.Text, ProductName, b.Name)
		m.HTML = strings.ReplaceAll(m.HTML, ProductName, b.Name)
	}
	return b.Sender.Send(ctx, m)
}
