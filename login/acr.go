package login

import (
	"slices"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// ACREmail is the acr of a sign-in whose second factor was a code sent by
// email. Email is a weak second factor (NIST SP 800-63B does not accept it
// for out-of-band authentication), so it has a level of its own below
// ACRMFA, and its name does not start with ACRMFA: a relying party that
// compares acr values exactly, or by prefix, never takes it for
// urn:gatehouse:loa:2.
//
// The levels, weakest first:
//
//	urn:gatehouse:loa:1        password only (ACRPassword)
//	urn:gatehouse:loa:1:email  password and an emailed code (ACREmail)
//	urn:gatehouse:loa:2        password and an authenticator app code or a
//	                           recovery code (ACRMFA)
//	urn:gatehouse:loa:3        a security key or passkey (ACRPhishingResistant)
//
// A request whose acr_values names one of them is answered only by a
// sign-in of that level or a stronger one; of several, the strongest
// named counts.
const ACREmail = "urn:gatehouse:loa:1:email"

// msgAppRequired refuses an emailed code where the client asked for an
// authenticator app (or stronger) and the user has nothing else.
const msgAppRequired = "This application does not accept codes sent by email. Set up an authenticator app or a security key in your account, then sign in again."

// acrRank orders the acr values Gatehouse issues, weakest first; an acr it
// does not issue ranks 0.
func acrRank(acr string) int {
	switch acr {
	case ACRPassword:
		return 1
	case ACREmail:
		return 2
	case ACRMFA:
		return 3
	case ACRPhishingResistant:
		return 4
	}
	return 0
}

// acrFor returns the acr a sign-in with amr earns: a key or passkey is
// loa:3, an authenticator app or recovery code ("otp") loa:2, an emailed
// code alone the email level, the password alone loa:1.
func acrFor(amr []string) string {
	switch {
	case !slices.Contains(amr, "mfa"):
		return ACRPassword
	case usedKey(amr):
		return ACRPhishingResistant
	case slices.Contains(amr, "email") && !slices.Contains(amr, "otp"):
		return ACREmail
	}
	return ACRMFA
}

// ACRFor returns the acr a sign-in with amr earns. The provider gives it
// to the ID tokens of the sign-in's refresh tokens (op.Config.ACR), which
// keep its amr only.
func ACRFor(amr []string) string { return acrFor(amr) }

// acrDemanded returns the rank of the strongest acr that ar's acr_values
// name, 0 if they name none that Gatehouse issues.
func acrDemanded(ar *storage.AuthRequest) int {
	rank := 0
	for _, v := range ar.ACRValues {
		rank = max(rank, acrRank(v))
	}
	return rank
}

// secondFactorDemanded reports whether ar's acr_values ask for a second
// factor of any kind: the email level or a stronger one.
func secondFactorDemanded(ar *storage.AuthRequest) bool {
	return acrDemanded(ar) >= acrRank(ACREmail)
}

// emailAccepted reports whether an emailed code may answer ar: not when its
// acr_values ask for an authenticator app (loa:2) or a key (loa:3).
func emailAccepted(ar *storage.AuthRequest) bool {
	return acrDemanded(ar) < acrRank(ACRMFA)
}

// acrSatisfied reports whether a sign-in with amr meets what ar's
// acr_values ask for.
func acrSatisfied(amr []string, ar *storage.AuthRequest) bool {
	return acrRank(acrFor(amr)) >= acrDemanded(ar)
}
