// Package templates embeds Gatehouse's HTML pages, email texts and static
// assets. It holds files only; the login package parses and renders them.
package templates

import "embed"

// FS holds layout.html, one file per page, and static/.
//
//go:embed *.html static
var FS embed.FS
