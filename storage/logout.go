package storage

import "time"

// LogoutRequest is a validated RP-initiated logout request (OpenID
// RP-Initiated Logout 1.0 §2): what the provider's end_session endpoint
// checked, for the login's logout pages.
type LogoutRequest struct {
	// Subject is the user the id_token_hint names, or "" without a hint.
	// An expired hint still names its user, as the specification allows.
	Subject string
	// AuthTime is the hint's auth_time: the sign-in it was issued for. Zero
	// without a hint, or with a hint that has none.
	AuthTime time.Time
	// ClientID is the client the hint (its azp) or client_id names, or "".
	ClientID string
	// PostLogoutRedirectURI is the post_logout_redirect_uri when it is
	// registered for ClientID, else "".
	PostLogoutRedirectURI string
	State                 string
	// RedirectURI is where the browser goes once signed out:
	// PostLogoutRedirectURI, or the signed-out page, with State.
	RedirectURI string
}
