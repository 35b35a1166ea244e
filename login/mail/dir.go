package mail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// Dir is a Sender for development, used when no SMTP server is configured:
// it writes each message whole, as SMTP would deliver it (headers, a text
// and an HTML part), to a new file in a directory, the mail outbox, where
// a developer opens it with any mail client or text editor.
//
// The directory is created with mode 0700 if it does not exist; each file
// has mode 0600 and a name that sorts by time, such as
// "20261205T201500.123456789Z-3f9a0c1d.eml". A file appears whole: it is
// written under a temporary name and then renamed. The log gets one line
// per message naming the file and the masked recipient, never the subject
// or the body, which may hold a one-time code or a link.
type Dir struct {
	Path   string           // the outbox directory
	From   string           // sender address, as SMTPConfig.From
	Logger *slog.Logger     // nil means slog.Default()
	Now    func() time.Time // nil means time.Now
}

// Send writes m to a new file in d.Path.
func (d Dir) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if err := os.MkdirAll(d.Path, 0o700); err != nil {
		return fmt.Errorf("%w: mail outbox: %w", ErrUnavailable, err)
	}
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	var suffix [4]byte
	rand.Read(suffix[:])
	name := now().UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(suffix[:]) + ".eml"

	f, err := os.CreateTemp(d.Path, ".writing-*")
	if err != nil {
		return fmt.Errorf("%w: mail outbox: %w", ErrUnavailable, err)
	}
	tmp := f.Name()
	err = f.Chmod(0o600)
	if err == nil {
		err = Write(f, d.From, m)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(d.Path, name))
	}
	if err != nil {
		os.Remove(tmp)
		if errors.Is(err, ErrRejected) {
			return err
		}
		return fmt.Errorf("%w: mail outbox: %w", ErrUnavailable, err)
	}
	logger := d.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.InfoContext(ctx, "email written to the mail outbox (no SMTP server configured)",
		slog.String("file", name), slog.String("to", maskAddress(m.To)))
	return nil
}
