package main

// matchAlias reports whether the device modalias s matches the module alias
// pattern, as kmod matches them: fnmatch(3) without flags. '*' matches any
// run of bytes (a '/' included), '?' any one byte, "[...]" one byte of a
// set ("[!...]" or "[^...]" its complement, "a-z" a range, a ']' first in
// the set itself), and '\' makes the next byte literal. A '[' that opens no
// complete set is literal.
//
// Modaliases are ASCII, so the match works on bytes.
func matchAlias(pattern, s string) bool {
	// Backtracking over the last '*' only, as in path.Match: linear
	// enough for patterns of a few stars.
	px, sx := 0, 0
	starPx, starSx := -1, 0
	for px < len(pattern) || sx < len(s) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				starPx, starSx = px, sx
				px++
				continue
			case '?':
				if sx < len(s) {
					px++
					sx++
					continue
				}
			case '[':
				if sx < len(s) {
					if ok, n := matchSet(pattern[px:], s[sx]); n > 0 {
						if ok {
							px += n
							sx++
							continue
						}
					} else if s[sx] == '[' {
						px++
						sx++
						continue
					}
				}
			case '\\':
				lit := byte('\\')
				n := 1
				if px+1 < len(pattern) {
					lit, n = pattern[px+1], 2
				}
				if sx < len(s) && s[sx] == lit {
					px += n
					sx++
					continue
				}
			default:
				if sx < len(s) && s[sx] == c {
					px++
					sx++
					continue
				}
			}
		}
		// Mismatch: let the last '*' swallow one more byte.
		if starPx >= 0 && starSx < len(s) {
			starSx++
			px, sx = starPx+1, starSx
			continue
		}
		return false
	}
	return true
}

// matchSet matches c against the bracket expression at the start of p
// (p[0] == '['). It returns whether c is in the set and the length of the
// expression, or n == 0 when p holds no complete expression.
func matchSet(p string, c byte) (ok bool, n int) {
	i := 1
	negate := false
	if i < len(p) && (p[i] == '!' || p[i] == '^') {
		negate = true
		i++
	}
	first := true
	for i < len(p) {
		lo := p[i]
		if lo == ']' && !first {
			return ok != negate, i + 1
		}
		first = false
		if lo == '\\' && i+1 < len(p) {
			i++
			lo = p[i]
		}
		hi := lo
		if i+2 < len(p) && p[i+1] == '-' && p[i+2] != ']' {
			hi = p[i+2]
			if hi == '\\' && i+3 < len(p) {
				i++
				hi = p[i+2]
			}
			i += 2
		}
		if lo <= c && c <= hi {
			ok = true
		}
		i++
	}
	return false, 0
}
