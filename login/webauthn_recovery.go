package login

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// issueCodesToShow issues new recovery codes for u and keeps them, sealed,
// for the page that shows them once to the browser session sessionID; it
// returns that page's URL. A JSON step cannot show a page itself, and the
// codes never travel in a URL. Codes not shown within ceremonyTTL are not
// shown at all: the user creates new ones.
func (h *Handler) issueCodesToShow(ctx context.Context, u *storage.User, sessionID, next string) (string, error) {
	codes, err := h.issueRecoveryCodes(ctx, u)
	if err != nil {
		return "", err
	}
	return h.codesToShow(ctx, u, codes, sessionID, next)
}

// issueFirstCodesToShow is issueCodesToShow for the first factor: when u
// has recovery codes left (another factor, enabled at once, issued them),
// it issues none and returns next.
func (h *Handler) issueFirstCodesToShow(ctx context.Context, u *storage.User, sessionID, next string) (string, error) {
	codes, err := h.issueFirstRecoveryCodes(ctx, u)
	if err != nil || codes == nil {
		return next, err
	}
	return h.codesToShow(ctx, u, codes, sessionID, next)
}

// codesToShow keeps codes, sealed, for the page that shows them once to
// the browser session sessionID, and returns that page's URL.
func (h *Handler) codesToShow(ctx context.Context, u *storage.User, codes []string, sessionID, next string) (string, error) {
	sealed := h.Seal.Seal([]byte(strings.Join(codes, "\n")), showAAD(u.ID, sessionID))
	key, err := h.putCeremony(ctx, &ceremony{Kind: ceremonyShow, Binding: sessionID, UserID: u.ID, Codes: sealed, Next: next})
	if err != nil {
		return "", err
	}
	return "/account/security/recovery/show?c=" + url.QueryEscape(key), nil
}

func showAAD(userID, sessionID string) []byte {
	return []byte("recovery-show:" + userID + ":" + sessionID)
}

// showIssuedCodes shows the recovery codes kept by issueCodesToShow, once;
// afterwards (or for another browser) it leads to the security page.
func (h *Handler) showIssuedCodes(w http.ResponseWriter, r *http.Request) error {
	sess, u, err := h.signedIn(r)
	if err != nil {
		return err
	}
	c, err := h.takeCeremony(r.Context(), r.URL.Query().Get("c"), ceremonyShow, sess.ID)
	if err != nil {
		return err
	}
	if c == nil || c.UserID != u.ID {
		http.Redirect(w, r, "/account/security", http.StatusSeeOther)
		return nil
	}
	plain, err := h.Seal.Open(c.Codes, showAAD(u.ID, sess.ID))
	if err != nil {
		return fmt.Errorf("open recovery codes to show: %w", err)
	}
	h.renderRecoveryCodes(w, r, strings.Split(string(plain), "\n"), c.Next)
	return nil
}

// codesKeyCheck is the page that confirms new recovery codes with a key,
// for users whose only factor is keys (the others enter a code).
func (h *Handler) codesKeyCheck(w http.ResponseWriter, r *http.Request, u *storage.User) error {
	if ok, err := h.hasKeys(r.Context(), u.ID); err != nil {
		return err
	} else if !ok {
		http.Redirect(w, r, "/account/security", http.StatusSeeOther)
		return nil
	}
	h.render(w, r, http.StatusOK, "webauthn.html", &page{
		Title:     "Recovery codes",
		Message:   "To get new recovery codes, confirm with one of your security keys or passkeys. The old codes stop working.",
		CancelURL: "/account/security",
		WebAuthn: &webauthnView{
			Mode: ceremonyCodes, Begin: "/account/security/recovery/key/begin",
			Finish: "/account/security/recovery/key/finish", CSRF: h.sessionCSRF(r),
		},
	})
	return nil
}

// beginCodesCheck starts the key check that confirms new recovery codes.
func (h *Handler) beginCodesCheck(w http.ResponseWriter, r *http.Request) (int, *jsonReply, error) {
	st, status, reply, err := h.accountJSON(r, "/account/security")
	if st == nil {
		return status, reply, err
	}
	return h.beginAccountCheck(st.r.Context(), st, &ceremony{Kind: ceremonyCodes})
}

// finishCodesCheck checks the key and issues new recovery codes, shown
// once by the page it leads to.
func (h *Handler) finishCodesCheck(w http.ResponseWriter, r *http.Request) (int, *jsonReply, error) {
	chk, status, reply, err := h.finishAccountCheck(r, ceremonyCodes, "/account/security")
	if chk == nil {
		return status, reply, err
	}
	r, u := chk.r, chk.ku.u
	next, err := h.issueCodesToShow(r.Context(), u, chk.sess.ID, "/account/security?done=codes")
	if err != nil {
		return 0, nil, err
	}
	h.notify(r.Context(), u, "New recovery codes", "New recovery codes were created for your Gatehouse account; the old ones no longer work.\n\nIf this was not you, change your password and contact your administrator.\n")
	return http.StatusOK, &jsonReply{Redirect: next}, nil
}
