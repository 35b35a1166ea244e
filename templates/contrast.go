package templates

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Contrast returns the WCAG 2.2 contrast ratio of two colours written as
// CSS hex colours (#rgb or #rrggbb), from 1 (the same luminance) to 21
// (black on white). Success criterion 1.4.3 asks 4.5 for text, 1.4.11 asks
// 3 for the parts of controls and the focus indicator.
func Contrast(a, b string) (float64, error) {
	la, err := luminance(a)
	if err != nil {
		return 0, err
	}
	lb, err := luminance(b)
	if err != nil {
		return 0, err
	}
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05), nil
}

// luminance is the relative luminance of a CSS hex colour (WCAG 2.2,
// "relative luminance").
func luminance(hex string) (float64, error) {
	s, ok := strings.CutPrefix(strings.TrimSpace(hex), "#")
	if ok && len(s) == 3 {
		s = string([]byte{s[0], s[0], s[1], s[1], s[2], s[2]})
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if !ok || len(s) != 6 || err != nil {
		return 0, fmt.Errorf("colour %q: want #rgb or #rrggbb", hex)
	}
	channel := func(shift uint) float64 {
		c := float64(v>>shift&0xff) / 255
		if c <= 0.04045 {
			return c / 12.92
		}
		return math.Pow((c+0.055)/1.055, 2.4)
	}
	return 0.2126*channel(16) + 0.7152*channel(8) + 0.0722*channel(0), nil
}
