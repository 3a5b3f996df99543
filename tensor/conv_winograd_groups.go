package tensor

// How the Winograd path's chunked schedule cuts its work among the
// workers (docs/conv.md, "Winograd on several threads"), so that what one
// worker writes, the same worker reads next, as far as the arithmetic
// allows:
//
//   - V is formed by panels of the products' rows (inputPanel), packed as
//     the products' A (vPackedA), so that no product packs it again;
//   - the forward's work is cut into units of output channels (unit),
//     claimed as the workers come free: a unit transforms the kernel for
//     its channels into the worker's own U, runs the 36 products into the
//     worker's own M and transforms them back into y. Only V, formed once
//     per chunk, passes between the workers. With the blocks of output
//     channels outside and several chunks, a block's U serves every chunk,
//     and the forward runs by position groups instead (group): a group
//     transforms the kernel for its positions into its own planes of U and
//     runs their products;
//   - the weight gradient runs by channel groups end to end (gradGroup): V,
//     the 36 products into the group's block of dU, and G^T of that block;
//     or by position groups (gradPositions).
//
// The first cuts (the kernel transform by input channels, V by tiles, the
// products one unit per position, dU's G^T by output channels) had each
// worker read most of what the other had just written. On the Zen 5 VM,
// whose two vCPUs share no cache (a cache-line round trip takes 450 ns),
// that made the kernel transform of the 512-channel stage slower on two
// threads than on one. Interleaved blocks do not do: with each worker's
// half of every row of V and dU, the weight gradient's products ran as
// slowly per worker on two threads as all of them on one, so each
// group's block is one run of memory. Units rather than one group per
// worker, because the two vCPUs of that VM are not equally fast: pinned
// to one or the other, the same one-thread forward took 9.5 and 14 ms, and
// which one is slow changes over minutes, so a static cut waits for the
// slower. The cuts depend on the thread count, the arithmetic does not:
// every transform, product and sum is the same for any cut
// (TestConvThreadsBitwise, TestWinogradBlocking).

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

// group runs position group g's part of a chunk with the blocks of output
// channels outside: U of its positions (formU: the block's first chunk)
// and its products, whose A is the chunk's packed V (vPackedA).
func (s *winoScratch) group(w, g int) {
	p0, p1 := positionGroup(g, s.pgroups)
	if s.formU {
		s.kernelRange(w, s.u, s.c0, s.cb, p0, p1, 0, s.cin)
	}
	for p := p0; p < p1; p++ {
		s.packedProduct(w, p, s.u, s.mt, s.cb)
	}
}

// packedProduct computes on worker w alone the chunk's product of
// position p (U's order): M[xi] = V[xi] U[p], xi = otherOrder(p), with V
// the chunk's packed V (vPackedA), U[p] the plane p of u and M[xi] the
// plane xi of m, for cb output channels.
func (s *winoScratch) packedProduct(w, p int, u, m []float32, cb int) {
	cin, xi := s.cin, otherOrder(p)
	s.vpa[w] = vPackedA{s: s, xi: xi}
	gemmSourcesAt(s.jobs.of(w), s.impl, w, 0, s.tc, cb, cin, 1, &s.vpa[w], s.inPlace(w, u[p*cin*cb:(p+1)*cin*cb], cb), m[xi*s.chunk*cb:][:s.tc*cb], cb, true)
}

// inputGroup forms the chunk's V for the weight gradient's channel group g
// (channelGroup): the input channels [k0, k1) of every tile, into the
// group's own block of V, planes [xi][t][k1-k0] at s.v[36*s.chunk*k0:]
// (with one group, V's planes of all channels).
func (s *winoScratch) inputGroup(w, g int) {
	k0, k1 := s.channelGroup(g)
	if k0 >= k1 {
		return
	}
	for r := 0; r < s.tc; r++ {
		s.inputRange(w, s.t0+r, s.v[36*s.chunk*k0:], k1-k0, r, s.chunk, k0, k1, 0, 36)
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

// unit runs unit i of a chunk: the output channels [i cbu, (i+1) cbu),
// their kernel transform into worker w's own U, the 36 products into its
// own M and the output transform of every tile of the chunk.
func (s *winoScratch) unit(w, i int) {
	cin, cbu := s.cin, s.cbu
	c0 := i * cbu
	cb := min(cbu, s.cout-c0)
	u := s.u[w*36*cin*cbu:][:36*cin*cb]
	m := s.mt[w*36*s.chunk*cbu:][:36*s.chunk*cb]
	s.kernelRange(w, u, c0, cb, 0, 36, 0, cin)
	for p := 0; p < 36; p++ {
		s.packedProduct(w, p, u, m, cb)
	}
	s.outputTiles(w, s.t0, s.t0+s.tc, m, 0, s.chunk, c0, cb)
}

// unitWidth returns the output channels of a unit (unit): the block's
// cb cut among the threads, at a multiple of channelWidth, so that the
// threads' U and M together are no larger than one block's.
func (s *winoScratch) unitWidth(cb, threads int) int {
	if winoForceUnit > 0 {
		return min(winoForceUnit, s.cout)
	}
	w := s.channelWidth()
	return min(s.cout, max(w, cb/max(1, threads)/w*w))
}

// winoForceUnit, when positive, replaces unitWidth's rule (tests).
var winoForceUnit int
