package media

// Start-code emulation prevention, shared by H.264/H.265 NAL units (Annex B) and AV1 OBUs in
// MPEG-TS (AOM's start-code format): inside a unit no 0x000000, 0x000001 or 0x000002 may
// appear, so a 0x03 is put after every two zero bytes that a byte of 0x00…0x03 follows.

// AppendEscaped appends b to dst with emulation prevention bytes inserted.
func AppendEscaped(dst, b []byte) []byte {
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c <= 3 {
			dst = append(dst, 3) // emulation_prevention_three_byte
			zeros = 0
		}
		dst = append(dst, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return dst
}

// AppendUnescaped appends b to dst without its emulation prevention bytes (the 0x03 of each
// 0x000003).
func AppendUnescaped(dst, b []byte) []byte {
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		dst = append(dst, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return dst
}
