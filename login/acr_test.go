package login

import (
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage"
)

func TestACRFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		amr  []string
		want string
	}{
		{[]string{"pwd"}, ACRPassword},
		{amrFor(factorEmail), ACREmail},
		{amrFor(factorTOTP), ACRMFA},
		{amrFor(factorRecovery), ACRMFA},
		{[]string{"pwd", "email", "otp", "mfa"}, ACRMFA},
		{[]string{"pwd", "hwk", "mfa"}, ACRPhishingResistant},
		{[]string{"swk", "mfa"}, ACRPhishingResistant},
		{[]string{"email"}, ACRPassword}, // no "mfa": not a second factor
	}
	for _, tt := range tests {
		if got := acrFor(tt.amr); got != tt.want {
			t.Errorf("acrFor(%v) = %q, want %q", tt.amr, got, tt.want)
		}
	}
}

func TestACRValuesDemand(t *testing.T) {
	t.Parallel()
	emailAMR, appAMR, keyAMR := amrFor(factorEmail), amrFor(factorTOTP), []string{"pwd", "hwk", "mfa"}
	tests := []struct {
		name          string
		acrValues     []string
		secondFactor  bool // a second factor of any kind is demanded
		email         bool // an emailed code may answer
		byPwd, byMail bool // which sessions satisfy the request
		byApp, byKey  bool
	}{
		{"none", nil, false, true, true, true, true, true},
		{"unknown", []string{"urn:example:gold"}, false, true, true, true, true, true},
		{"loa:1", []string{ACRPassword}, false, true, true, true, true, true},
		{"email level", []string{ACREmail}, true, true, false, true, true, true},
		{"loa:2", []string{ACRMFA}, true, false, false, false, true, true},
		{"loa:2 among others", []string{ACREmail, ACRMFA}, true, false, false, false, true, true},
		{"loa:3", []string{ACRPhishingResistant}, true, false, false, false, false, true},
		{"loa:2 as prefix is not loa:2", []string{ACRMFA + ":email"}, false, true, true, true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ar := &storage.AuthRequest{ACRValues: tt.acrValues}
			if got := secondFactorDemanded(ar); got != tt.secondFactor {
				t.Errorf("secondFactorDemanded = %v, want %v", got, tt.secondFactor)
			}
			if got := emailAccepted(ar); got != tt.email {
				t.Errorf("emailAccepted = %v, want %v", got, tt.email)
			}
			for _, s := range []struct {
				amr  []string
				want bool
			}{{[]string{"pwd"}, tt.byPwd}, {emailAMR, tt.byMail}, {appAMR, tt.byApp}, {keyAMR, tt.byKey}} {
				if got := acrSatisfied(s.amr, ar); got != s.want {
					t.Errorf("acrSatisfied(%v) = %v, want %v", s.amr, got, s.want)
				}
			}
		})
	}
}
