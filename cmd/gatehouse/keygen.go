//go:build !testclock

package main

import "github.com/gatehouse-idp/gatehouse/op"

// keyGeneratorFromEnv returns nil: servers generate every signing key
// afresh (op.GenerateKey). Builds with the testclock tag replace it with
// one that takes RSA keys from a set the end-to-end tests made.
func keyGeneratorFromEnv(func(string) string) op.KeyGenerator { return nil }
