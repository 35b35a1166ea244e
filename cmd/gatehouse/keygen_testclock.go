//go:build testclock

package main

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"

	"github.com/gatehouse-idp/gatehouse/op"
)

// keyGeneratorFromEnv returns, when GATEHOUSE_TEST_RSA_KEYS names a file
// of PEM "PRIVATE KEY" blocks (PKCS #8 RSA keys), op.GenerateFrom of that
// file's keys: a fresh database's RS256 key is one of them (see
// GenerateFrom). Only test builds (-tags testclock) contain it.
func keyGeneratorFromEnv(getenv func(string) string) op.KeyGenerator {
	path := getenv("GATEHOUSE_TEST_RSA_KEYS")
	if path == "" {
		return nil
	}
	return func(alg string, inUse []crypto.PublicKey) (crypto.Signer, error) {
		set, err := readKeyPool(path)
		if err != nil {
			return nil, err
		}
		return op.GenerateFrom(set)(alg, inUse)
	}
}

// readKeyPool reads the PKCS #8 private keys of the PEM file at path.
func readKeyPool(path string) ([]crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("GATEHOUSE_TEST_RSA_KEYS: %w", err)
	}
	var keys []crypto.Signer
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return keys, nil
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("GATEHOUSE_TEST_RSA_KEYS %s: %w", path, err)
		}
		signer, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("GATEHOUSE_TEST_RSA_KEYS %s: a %T is not a signer", path, k)
		}
		keys = append(keys, signer)
	}
}
