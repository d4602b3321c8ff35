package chunker

// gearSeed seeds the SplitMix64 stream the gear table is drawn from:
// "cairncdc" in ASCII. Changing it moves every chunk boundary.
const gearSeed = 0x636169726e636463

var (
	// gear maps a byte to the value the rolling hash adds for it.
	gear = makeGear(gearSeed)
	// gearLS is gear shifted left by one, for stepping two bytes at once.
	gearLS = shiftGear(&gear)
)

// makeGear returns the first 256 outputs of SplitMix64 from seed.
func makeGear(seed uint64) [256]uint64 {
	var g [256]uint64
	s := seed
	for i := range g {
		s += 0x9e3779b97f4a7c15
		z := s
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		g[i] = z ^ z>>31
	}
	return g
}

func shiftGear(g *[256]uint64) [256]uint64 {
	var s [256]uint64
	for i, v := range g {
		s[i] = v << 1
	}
	return s
}
