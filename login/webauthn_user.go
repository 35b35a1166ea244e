package login

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"slices"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// keyUser is a user with their handle and keys, as webauthn.User.
type keyUser struct {
	u      *storage.User
	handle []byte
	keys   []storage.WebAuthnCredential
}

func (k *keyUser) WebAuthnID() []byte { return k.handle }
func (k *keyUser) WebAuthnName() string {
	return k.u.Email
}
func (k *keyUser) WebAuthnDisplayName() string {
	if k.u.Name != "" {
		return k.u.Name
	}
	return k.u.Email
}
func (k *keyUser) WebAuthnCredentials() []webauthn.Credential {
	creds := make([]webauthn.Credential, len(k.keys))
	for i, c := range k.keys {
		flags := protocol.FlagUserPresent
		if c.BackupEligible {
			flags |= protocol.FlagBackupEligible
		}
		if c.BackupState {
			flags |= protocol.FlagBackupState
		}
		transports := make([]protocol.AuthenticatorTransport, len(c.Transports))
		for j, t := range c.Transports {
			transports[j] = protocol.AuthenticatorTransport(t)
		}
		creds[i] = webauthn.Credential{
			ID:              c.ID,
			PublicKey:       c.PublicKey,
			AttestationType: c.AttestationType,
			Transport:       transports,
			Flags:           webauthn.NewCredentialFlags(flags),
			Authenticator: webauthn.Authenticator{
				AAGUID:       c.AAGUID,
				SignCount:    c.SignCount,
				CloneWarning: c.CloneWarning,
			},
		}
	}
	return creds
}

func (k *keyUser) key(id []byte) *storage.WebAuthnCredential {
	for i := range k.keys {
		if bytes.Equal(k.keys[i].ID, id) {
			return &k.keys[i]
		}
	}
	return nil
}

// usableKeys drops the keys refused after a clone warning from ku; when
// none is left it returns the answer that says so.
func usableKeys(ku *keyUser) *jsonReply {
	all := len(ku.keys)
	ku.keys = slices.DeleteFunc(ku.keys, func(c storage.WebAuthnCredential) bool { return c.CloneWarning })
	switch {
	case all == 0:
		return &jsonReply{Error: msgKeyNone}
	case len(ku.keys) == 0:
		return &jsonReply{Error: msgKeyRefused}
	}
	return nil
}

// keyUserOf loads u's handle (creating it on first use) and keys.
func (h *Handler) keyUserOf(ctx context.Context, u *storage.User) (*keyUser, error) {
	fresh := make([]byte, 64)
	rand.Read(fresh)
	handle, err := h.Store.EnsureWebAuthnHandle(ctx, u.ID, fresh, h.Now())
	if err != nil {
		return nil, fmt.Errorf("webauthn handle: %w", err)
	}
	keys, err := h.Store.WebAuthnCredentials(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("load webauthn credentials: %w", err)
	}
	return &keyUser{u: u, handle: handle, keys: keys}, nil
}

// hasKeys reports whether the user has a security key or passkey. A key
// refused after a clone warning still counts: the account keeps asking for
// a second factor (another one, or an administrator's reset-2fa) rather
// than falling back to the password alone. It is false while keys are off.
func (h *Handler) hasKeys(ctx context.Context, userID string) (bool, error) {
	if h.WebAuthn == nil {
		return false, nil
	}
	keys, err := h.Store.WebAuthnCredentials(ctx, userID)
	if err != nil {
		return false, fmt.Errorf("load webauthn credentials: %w", err)
	}
	return len(keys) > 0, nil
}
