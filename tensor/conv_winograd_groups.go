package tensor

// The units of the Winograd path's chunked schedule (docs/conv.md,
// "Winograd on several threads"). On several threads the work of a chunk
// of tiles is cut so that what one worker writes, the same worker reads
// next, as far as the arithmetic allows:
//
//   - V is formed by channel groups (channelGroup), each group's input
//     channels of every tile into a block of V of its own;
//   - the forward products run by position groups (positionGroup): a group
//     transforms the kernel for its positions into its own planes of U and
//     runs their products, reading V from every channel group's block;
//   - the weight gradient runs by channel groups end to end: V, the 36
//     products into the group's block of dU, and G^T of that block.
//
// The first cuts (the kernel transform by input channels, V by tiles, the
// products one unit per position, dU's G^T by output channels) had each
// worker read most of what the other had just written. On the Zen 5 VM,
// whose two vCPUs share no cache (a cache-line round trip takes 450 ns),
// that made the kernel transform of the 512-channel stage slower on two
// threads than on one. Interleaved blocks do not do: with each worker's
// half of every row of V and dU, the weight gradient's products ran as
// slowly per worker on two threads as all of them on one, so each
// group's block is one run of memory. The groups depend on the thread
// count, the arithmetic does not: every transform, product and sum is the
// same for any cut (TestConvThreadsBitwise, TestWinogradBlocking).

// positionGroup returns the positions [p0, p1) of group g of n: the 36
// positions p = 6a + b of a transformed tile (xi = 6b + a of V and M), in
// order of the tile's column a and cut evenly, so that a group holds whole
// columns where it can (all of them for n = 1, 2, 3 and 6). U is stored
// in this order, so that a group's planes are one run of memory. Each
// group makes the kernel transform's first pass (along the kernel's rows)
// for all of its channels itself, and its second pass for its own
// columns only; on the 512-channel stage, alternated in one process on
// the Zen 5 VM (AVX2, two threads), the forward went from 8.4-9.0 to
// 6.1-6.6 ms (one thread: the same).
func positionGroup(g, n int) (p0, p1 int) { return 36 * g / n, 36 * (g + 1) / n }

// otherOrder maps a position between the two orders of a tile's 36
// positions, 6a + b (U, positionGroup) and xi = 6b + a (V, M, dM); the map
// is its own inverse.
func otherOrder(i int) int { return i%6*6 + i/6 }

// passColumns runs the second pass of a transform, the pass along the
// columns a of a tile, for the columns of the positions [p0, p1)
// (positionGroup's order), writing only the positions in the range.
// pass(a, d, ds) writes column a's six rows b, ds apart, at d; a row is n
// floats. Column a's row b goes to dst[a*dcs+b*ds:]: a column wholly in
// the range is written there in place, another through t6 (six rows of n
// floats) and a copy of its rows in the range.
func passColumns(p0, p1, n int, t6, dst []float32, dcs, ds int, pass func(a int, d []float32, ds int)) {
	for a := p0 / 6; a <= (p1-1)/6; a++ {
		b0, b1 := max(0, p0-6*a), min(6, p1-6*a)
		if b0 == 0 && b1 == 6 {
			pass(a, dst[a*dcs:], ds)
			continue
		}
		pass(a, t6, n)
		for b := b0; b < b1; b++ {
			copy(dst[a*dcs+b*ds:][:n], t6[b*n:][:n])
		}
	}
}

// group runs position group g's part of a chunk: U of its positions
// (formU: the block's first chunk, or every chunk with the chunks
// outside) and its products, whose A is the chunk's V in blocks of input
// channels (vBlocksA).
func (s *winoScratch) group(w, g int) {
	p0, p1 := positionGroup(g, s.pgroups)
	if s.formU {
		s.kernelRange(w, p0, p1, 0, s.cin)
	}
	impl, cin, cb := s.impl, s.cin, s.cb
	for p := p0; p < p1; p++ {
		xi := otherOrder(p)
		s.va[w] = vBlocksA{s: s, xi: xi}
		gemmSourcesAt(s.jobs.of(w), impl, w, 0, s.tc, cb, cin, 1, &s.va[w], s.inPlace(w, s.u[p*cin*cb:(p+1)*cin*cb], cb), s.mt[xi*s.chunk*cb:][:s.tc*cb], cb, true)
	}
}

// inputGroup forms the chunk's V for channel group g (channelGroup): the
// input channels [k0, k1) of every tile, into the group's own block of V,
// planes [xi][t][k1-k0] at s.v[36*s.chunk*k0:] (with one group, V's
// planes of all channels).
func (s *winoScratch) inputGroup(w, g int) {
	k0, k1 := s.channelGroup(g)
	if k0 >= k1 {
		return
	}
	for r := 0; r < s.tc; r++ {
		s.inputRange(w, s.t0+r, s.v[36*s.chunk*k0:], k1-k0, r, s.chunk, k0, k1, 0, 36)
	}
}

// vBlocksA is V[xi] of the chunk as the A of a product (tiles by input
// channels) when V is in blocks of channel groups (inputGroup): each
// panel's columns are gathered from the blocks they fall in.
type vBlocksA struct {
	s  *winoScratch
	xi int
}

func (a *vBlocksA) packA(_ int, dst []float32, i0, mb, p0, kb, mr int, alpha float32) {
	s := a.s
	np := (mb + mr - 1) / mr
	for ip := range np {
		panel := dst[ip*mr*kb : (ip+1)*mr*kb]
		rows := min(mr, mb-ip*mr)
		if rows < mr {
			clear(panel)
		}
		for g := 0; g < s.cgroups; g++ {
			k0, k1 := s.channelGroup(g)
			q0, q1 := max(p0, k0), min(p0+kb, k1)
			if q0 >= q1 {
				continue
			}
			n := k1 - k0
			v := s.v[36*s.chunk*k0+a.xi*s.chunk*n:]
			s.impl.Transpose(panel[(q0-p0)*mr:], mr, v[(i0+ip*mr)*n+q0-k0:], n, rows, q1-q0)
		}
		if alpha != 1 {
			s.impl.Scale(alpha, panel)
		}
	}
}

// channelGroup returns the input channels [k0, k1) of group g of
// s.cgroups: cin cut evenly at multiples of channelWidth, so that the
// transforms' vector tails and the products' tiles fall on the same
// channels as over all of cin and the results stay bitwise those of one
// group. The last groups may be empty.
func (s *winoScratch) channelGroup(g int) (k0, k1 int) {
	w := s.channelWidth()
	per := (s.cin + s.cgroups*w - 1) / (s.cgroups * w) * w
	return min(s.cin, g*per), min(s.cin, (g+1)*per)
}

// setChannelGroups sets the channel groups for threads threads: one a
// thread, as many as have channels.
func (s *winoScratch) setChannelGroups(threads int) {
	w := s.channelWidth()
	s.cgroups = min(max(1, threads), (s.cin+w-1)/w)
}

// channelWidth is the granule of channelGroup: a vector at every level
// and a whole number of the micro-kernel's columns (coutBlock's width).
func (s *winoScratch) channelWidth() int {
	_, nr := s.impl.GemmTile()
	return max(16, nr)
}

// chunksOuter reports whether the chunked schedule with blocks of cb
// output channels takes the chunks of tiles in the outer loop and the
// blocks inside it, forming each chunk's V once and U of every block once
// per chunk, rather than the blocks outside, forming U once and, with
// several chunks, V of every chunk once per block. It takes the order
// that forms fewer floats again: (chunks-1) Cin Cout of U against
// (blocks-1) Cin tiles of V. Where the two tie, as for the 256-channel
// 8x8 stage at batch 32, chunks outside measured 8% faster on two threads
// on the Zen 5 VM (as fast on one): V is read by every position group,
// so forming it again means writing what the other workers read, where U
// stays with its group. Either order does the same arithmetic.
func (s *winoScratch) chunksOuter(cb int) bool {
	if winoOrder > 0 {
		return winoOrder == 2
	}
	blocks := (s.cout + cb - 1) / cb
	chunks := (s.nt + s.chunk - 1) / s.chunk
	return chunks > 1 && (chunks-1)*s.cout <= (blocks-1)*s.nt
}
