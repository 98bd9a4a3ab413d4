//! A JPEG decoder that reproduces libjpeg-turbo's default output (what Pillow decodes with):
//! the accurate integer IDCT (`JDCT_ISLOW`), "fancy" (triangle) chroma upsampling with its edge
//! handling, and its fixed-point YCbCr → RGB tables.
//!
//! Handled: 8-bit Huffman JPEG, baseline / extended / progressive (SOF0–2, any scan layout,
//! restart markers), 1 (grey) or 3 (YCbCr) components, chroma subsampled 1×1, 2×1 or 2×2.
//! [`decode`] returns `None` for anything else (CMYK, RGB-coded, 12-bit, arithmetic coding,
//! other subsamplings, corrupt data), and the caller falls back to a general decoder.

/// An image decoded to interleaved RGB.
pub struct Decoded {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

#[derive(Clone, Default)]
struct Huffman {
    /// (length, code) → symbol, as per-length lists: `maxcode`, `valptr`, `mincode`.
    mincode: [i32; 17],
    maxcode: [i32; 18],
    valptr: [i32; 17],
    vals: Vec<u8>,
}

impl Huffman {
    fn new(counts: &[u8; 16], vals: Vec<u8>) -> Option<Self> {
        let mut h = Huffman {
            vals,
            ..Default::default()
        };
        let mut code = 0i32;
        let mut k = 0i32;
        for l in 1..=16 {
            let n = counts[l - 1] as i32;
            h.valptr[l] = k;
            h.mincode[l] = code;
            code += n;
            k += n;
            h.maxcode[l] = if n > 0 { code - 1 } else { -1 };
            code <<= 1;
        }
        h.maxcode[17] = i32::MAX;
        if k as usize > h.vals.len() {
            return None;
        }
        Some(h)
    }
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    nbits: u32,
    /// A marker was reached: further bits read as zeros.
    hit_marker: bool,
}

impl<'a> Bits<'a> {
    fn fill(&mut self) {
        while self.nbits <= 56 {
            let mut byte = 0u8;
            if !self.hit_marker && self.pos < self.data.len() {
                byte = self.data[self.pos];
                if byte == 0xFF {
                    let next = self.data.get(self.pos + 1).copied().unwrap_or(0xD9);
                    if next == 0x00 {
                        self.pos += 2;
                    } else {
                        self.hit_marker = true;
                        byte = 0;
                    }
                } else {
                    self.pos += 1;
                }
            }
            self.acc |= (byte as u64) << (56 - self.nbits);
            self.nbits += 8;
        }
    }

    fn bits(&mut self, n: u32) -> i32 {
        if n == 0 {
            return 0;
        }
        self.fill();
        let v = (self.acc >> (64 - n)) as i32;
        self.acc <<= n;
        self.nbits -= n;
        v
    }

    fn decode(&mut self, h: &Huffman) -> Option<u8> {
        let mut code = 0i32;
        for l in 1..=16 {
            code = (code << 1) | self.bits(1);
            if h.maxcode[l] >= 0 && code <= h.maxcode[l] && code >= h.mincode[l] {
                let i = h.valptr[l] + code - h.mincode[l];
                return h.vals.get(i as usize).copied();
            }
        }
        None
    }

    /// Skips to the restart marker after the current bits.
    fn restart(&mut self) -> bool {
        self.acc = 0;
        self.nbits = 0;
        self.hit_marker = false;
        while self.pos + 1 < self.data.len() {
            if self.data[self.pos] == 0xFF && (0xD0..=0xD7).contains(&self.data[self.pos + 1]) {
                self.pos += 2;
                return true;
            }
            self.pos += 1;
        }
        false
    }
}

fn extend(v: i32, s: u32) -> i32 {
    if s == 0 {
        0
    } else if v < (1 << (s - 1)) {
        v - (1 << s) + 1
    } else {
        v
    }
}

/// libjpeg's `jpeg_idct_islow` (CONST_BITS 13, PASS1_BITS 2) on dequantised coefficients in
/// natural order; writes 8×8 samples at `out[off + r·stride + c]`.
fn idct_islow(coef: &[i32; 64], out: &mut [u8], off: usize, stride: usize) {
    const CB: u32 = 13;
    const P1: u32 = 2;
    const F0298: i64 = 2446;
    const F0390: i64 = 3196;
    const F0541: i64 = 4433;
    const F0765: i64 = 6270;
    const F0899: i64 = 7373;
    const F1175: i64 = 9633;
    const F1501: i64 = 12299;
    const F1847: i64 = 15137;
    const F1961: i64 = 16069;
    const F2053: i64 = 16819;
    const F2562: i64 = 20995;
    const F3072: i64 = 25172;
    let descale = |x: i64, n: u32| (x + (1i64 << (n - 1))) >> n;
    // One 1-D pass on 8 values `v` (already in the pass's integer domain, even part shifted
    // by CONST_BITS inside), returning the 8 un-descaled sums.
    let pass = |v: [i64; 8]| -> [i64; 8] {
        let (z2, z3) = (v[2], v[6]);
        let z1 = (z2 + z3) * F0541;
        let tmp2 = z1 + z3 * -F1847;
        let tmp3 = z1 + z2 * F0765;
        let tmp0 = (v[0] + v[4]) << CB;
        let tmp1 = (v[0] - v[4]) << CB;
        let tmp10 = tmp0 + tmp3;
        let tmp13 = tmp0 - tmp3;
        let tmp11 = tmp1 + tmp2;
        let tmp12 = tmp1 - tmp2;
        let (mut t0, mut t1, mut t2, mut t3) = (v[7], v[5], v[3], v[1]);
        let z1 = t0 + t3;
        let z2 = t1 + t2;
        let z3 = t0 + t2;
        let z4 = t1 + t3;
        let z5 = (z3 + z4) * F1175;
        t0 *= F0298;
        t1 *= F2053;
        t2 *= F3072;
        t3 *= F1501;
        let z1 = z1 * -F0899;
        let z2 = z2 * -F2562;
        let z3 = z3 * -F1961 + z5;
        let z4 = z4 * -F0390 + z5;
        t0 += z1 + z3;
        t1 += z2 + z4;
        t2 += z2 + z3;
        t3 += z1 + z4;
        [
            tmp10 + t3,
            tmp11 + t2,
            tmp12 + t1,
            tmp13 + t0,
            tmp13 - t0,
            tmp12 - t1,
            tmp11 - t2,
            tmp10 - t3,
        ]
    };
    let mut ws = [0i64; 64];
    for c in 0..8 {
        let col: [i64; 8] = std::array::from_fn(|r| coef[r * 8 + c] as i64);
        if col[1..].iter().all(|&v| v == 0) {
            for r in 0..8 {
                ws[r * 8 + c] = col[0] << P1;
            }
            continue;
        }
        let o = pass(col);
        for r in 0..8 {
            ws[r * 8 + c] = descale(o[r], CB - P1);
        }
    }
    for r in 0..8 {
        let row: [i64; 8] = std::array::from_fn(|c| ws[r * 8 + c]);
        let o = pass(row);
        for c in 0..8 {
            let v = descale(o[c], CB + P1 + 3) + 128;
            out[off + r * stride + c] = v.clamp(0, 255) as u8;
        }
    }
}

struct Component {
    id: u8,
    h: usize,
    v: usize,
    tq: usize,
    td: usize,
    ta: usize,
    /// Blocks per line / column, padded to whole MCUs.
    bw: usize,
    bh: usize,
    /// Blocks holding image samples (a non-interleaved scan covers only these).
    bw_real: usize,
    bh_real: usize,
    /// Quantised coefficients, natural order, `[bh·bw, 64]`.
    coefs: Vec<i32>,
    /// Decoded samples `[bh·8, bw·8]`.
    plane: Vec<u8>,
}

/// One scan's parameters.
struct Scan {
    comps: Vec<usize>,
    ss: usize,
    se: usize,
    ah: u32,
    al: u32,
}

struct State<'a> {
    qt: [[i32; 64]; 4],
    dc: [Option<Huffman>; 4],
    ac: [Option<Huffman>; 4],
    comps: Vec<Component>,
    width: usize,
    height: usize,
    hmax: usize,
    vmax: usize,
    restart_interval: usize,
    adobe_transform: Option<u8>,
    progressive: bool,
    data: &'a [u8],
}

/// Decodes `bytes` if it is a JPEG this module handles exactly; `None` otherwise.
pub fn decode(bytes: &[u8]) -> Option<Decoded> {
    if bytes.len() < 4 || bytes[0] != 0xFF || bytes[1] != 0xD8 {
        return None;
    }
    let mut st = State {
        qt: [[0; 64]; 4],
        dc: Default::default(),
        ac: Default::default(),
        comps: Vec::new(),
        width: 0,
        height: 0,
        hmax: 1,
        vmax: 1,
        restart_interval: 0,
        adobe_transform: None,
        progressive: false,
        data: bytes,
    };
    let mut pos = 2;
    let mut scans = 0;
    loop {
        while pos < bytes.len() && bytes[pos] != 0xFF {
            pos += 1;
        }
        while pos < bytes.len() && bytes[pos] == 0xFF {
            pos += 1;
        }
        let marker = *bytes.get(pos)?;
        pos += 1;
        if marker == 0xD9 {
            return if scans > 0 { st.finish() } else { None };
        }
        if (0xD0..=0xD7).contains(&marker) {
            continue;
        }
        let len = u16::from_be_bytes([*bytes.get(pos)?, *bytes.get(pos + 1)?]) as usize;
        let seg = bytes.get(pos + 2..pos + len)?;
        match marker {
            0xDB => {
                let mut s = seg;
                while !s.is_empty() {
                    let (pq, tq) = ((s[0] >> 4) as usize, (s[0] & 15) as usize);
                    if tq > 3 {
                        return None;
                    }
                    let n = if pq == 0 { 64 } else { 128 };
                    let vals = s.get(1..1 + n)?;
                    for k in 0..64 {
                        st.qt[tq][ZIGZAG[k]] = if pq == 0 {
                            vals[k] as i32
                        } else {
                            u16::from_be_bytes([vals[2 * k], vals[2 * k + 1]]) as i32
                        };
                    }
                    s = &s[1 + n..];
                }
            }
            0xC4 => {
                let mut s = seg;
                while !s.is_empty() {
                    let (class, id) = ((s[0] >> 4) as usize, (s[0] & 15) as usize);
                    let counts: [u8; 16] = s.get(1..17)?.try_into().ok()?;
                    let n: usize = counts.iter().map(|&c| c as usize).sum();
                    let vals = s.get(17..17 + n)?.to_vec();
                    if id > 3 {
                        return None;
                    }
                    let h = Huffman::new(&counts, vals)?;
                    match class {
                        0 => st.dc[id] = Some(h),
                        1 => st.ac[id] = Some(h),
                        _ => return None,
                    }
                    s = &s[17 + n..];
                }
            }
            0xC0..=0xC2 => {
                if seg.len() < 6 || seg[0] != 8 || !st.comps.is_empty() {
                    return None;
                }
                st.progressive = marker == 0xC2;
                st.height = u16::from_be_bytes([seg[1], seg[2]]) as usize;
                st.width = u16::from_be_bytes([seg[3], seg[4]]) as usize;
                let n = seg[5] as usize;
                for i in 0..n {
                    let c = seg.get(6 + 3 * i..9 + 3 * i)?;
                    st.comps.push(Component {
                        id: c[0],
                        h: (c[1] >> 4) as usize,
                        v: (c[1] & 15) as usize,
                        tq: (c[2] & 3) as usize,
                        td: 0,
                        ta: 0,
                        bw: 0,
                        bh: 0,
                        bw_real: 0,
                        bh_real: 0,
                        coefs: Vec::new(),
                        plane: Vec::new(),
                    });
                }
                st.layout()?;
            }
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return None,
            0xDD => {
                st.restart_interval = u16::from_be_bytes([*seg.first()?, *seg.get(1)?]) as usize
            }
            0xEE if seg.len() >= 12 && &seg[..5] == b"Adobe" => st.adobe_transform = Some(seg[11]),
            0xDA => {
                if st.comps.is_empty() {
                    return None;
                }
                let ns = *seg.first()? as usize;
                let mut comps = Vec::with_capacity(ns);
                for i in 0..ns {
                    let (cid, t) = (*seg.get(1 + 2 * i)?, *seg.get(2 + 2 * i)?);
                    let ci = st.comps.iter().position(|c| c.id == cid)?;
                    st.comps[ci].td = (t >> 4) as usize;
                    st.comps[ci].ta = (t & 15) as usize;
                    comps.push(ci);
                }
                let p = seg.get(1 + 2 * ns..4 + 2 * ns)?;
                let scan = Scan {
                    comps,
                    ss: p[0] as usize,
                    se: p[1] as usize,
                    ah: (p[2] >> 4) as u32,
                    al: (p[2] & 15) as u32,
                };
                if scan.comps.is_empty() || scan.se > 63 || scan.ss > scan.se {
                    return None;
                }
                if !st.progressive && (scan.ss != 0 || scan.se != 63 || p[2] != 0) {
                    return None;
                }
                pos = st.scan(&scan, pos + len)?;
                scans += 1;
                continue;
            }
            _ => {}
        }
        pos += len;
    }
}

impl State<'_> {
    /// Block grids once the frame header is known.
    fn layout(&mut self) -> Option<()> {
        let n = self.comps.len();
        if (n != 1 && n != 3) || self.width == 0 || self.height == 0 {
            return None;
        }
        if n == 1 {
            // A single component is never subsampled relative to itself.
            self.comps[0].h = 1;
            self.comps[0].v = 1;
        }
        if self
            .comps
            .iter()
            .any(|c| c.h == 0 || c.v == 0 || c.h > 4 || c.v > 4)
        {
            return None;
        }
        self.hmax = self.comps.iter().map(|c| c.h).max()?;
        self.vmax = self.comps.iter().map(|c| c.v).max()?;
        let mcux = self.width.div_ceil(8 * self.hmax);
        let mcuy = self.height.div_ceil(8 * self.vmax);
        let (w, h, hm, vm) = (self.width, self.height, self.hmax, self.vmax);
        for c in self.comps.iter_mut() {
            c.bw = mcux * c.h;
            c.bh = mcuy * c.v;
            c.bw_real = (w * c.h).div_ceil(hm).div_ceil(8);
            c.bh_real = (h * c.v).div_ceil(vm).div_ceil(8);
            c.coefs = vec![0; c.bw * c.bh * 64];
        }
        Some(())
    }

    /// Decodes one scan starting at `start`; returns where the next marker search begins.
    fn scan(&mut self, scan: &Scan, start: usize) -> Option<usize> {
        let mut bits = Bits {
            data: self.data.get(start..)?,
            pos: 0,
            acc: 0,
            nbits: 0,
            hit_marker: false,
        };
        let mut preds = vec![0i32; self.comps.len()];
        let mut eobrun = 0u32;
        let mut count = 0;
        let ri = self.restart_interval;
        // (component, block row, block col) in scan order, one MCU at a time.
        let mut mcus: Vec<Vec<(usize, usize, usize)>> = Vec::new();
        if scan.comps.len() == 1 {
            let ci = scan.comps[0];
            let c = &self.comps[ci];
            for by in 0..c.bh_real {
                for bx in 0..c.bw_real {
                    mcus.push(vec![(ci, by, bx)]);
                }
            }
        } else {
            let mcux = self.width.div_ceil(8 * self.hmax);
            let mcuy = self.height.div_ceil(8 * self.vmax);
            for my in 0..mcuy {
                for mx in 0..mcux {
                    let mut m = Vec::new();
                    for &ci in &scan.comps {
                        let c = &self.comps[ci];
                        for v in 0..c.v {
                            for h in 0..c.h {
                                m.push((ci, my * c.v + v, mx * c.h + h));
                            }
                        }
                    }
                    mcus.push(m);
                }
            }
        }
        for mcu in mcus {
            if ri > 0 && count == ri {
                if !bits.restart() {
                    return None;
                }
                preds.iter_mut().for_each(|p| *p = 0);
                eobrun = 0;
                count = 0;
            }
            for (ci, by, bx) in mcu {
                let c = &self.comps[ci];
                let (dct, act) = (self.dc[c.td].as_ref(), self.ac[c.ta].as_ref());
                let o = (by * c.bw + bx) * 64;
                let blk: &mut [i32; 64] = (&mut self.comps[ci].coefs[o..o + 64]).try_into().ok()?;
                if scan.ss == 0 {
                    if scan.ah == 0 {
                        let s = bits.decode(dct?)? as u32;
                        if s > 11 {
                            return None;
                        }
                        // Wrapping: corrupt data must not panic (libjpeg wraps too).
                        preds[ci] = preds[ci].wrapping_add(extend(bits.bits(s), s));
                        blk[0] = preds[ci].wrapping_mul(1 << scan.al);
                    } else if bits.bits(1) == 1 {
                        blk[0] |= 1 << scan.al;
                    }
                    if scan.se == 0 {
                        continue;
                    }
                }
                let k0 = scan.ss.max(1);
                if scan.ah == 0 {
                    ac_first(&mut bits, act?, blk, k0, scan.se, scan.al, &mut eobrun)?;
                } else {
                    ac_refine(&mut bits, act?, blk, k0, scan.se, scan.al, &mut eobrun)?;
                }
            }
            count += 1;
        }
        // Resume the marker search where the entropy-coded data stopped.
        let mut p = bits.pos;
        let d = bits.data;
        while p + 1 < d.len()
            && !(d[p] == 0xFF && d[p + 1] != 0x00 && !(0xD0..=0xD7).contains(&d[p + 1]))
        {
            p += 1;
        }
        Some(start + p)
    }

    fn finish(mut self) -> Option<Decoded> {
        let (width, height) = (self.width, self.height);
        let n = self.comps.len();
        if n == 3 {
            // RGB-coded files (Adobe transform 0, or ids 'R','G','B') are left to the fallback.
            if self.adobe_transform == Some(0) || self.comps.iter().map(|c| c.id).eq(*b"RGB") {
                return None;
            }
            let (h0, v0) = (self.comps[0].h, self.comps[0].v);
            let ok = matches!((h0, v0), (1, 1) | (2, 1) | (2, 2))
                && self.comps[1..].iter().all(|c| c.h == 1 && c.v == 1);
            if !ok {
                return None;
            }
        }
        let mut deq = [0i32; 64];
        for c in self.comps.iter_mut() {
            let q = &self.qt[c.tq];
            let stride = c.bw * 8;
            c.plane = vec![0; stride * c.bh * 8];
            for by in 0..c.bh {
                for bx in 0..c.bw {
                    let o = (by * c.bw + bx) * 64;
                    for k in 0..64 {
                        deq[k] = c.coefs[o + k].wrapping_mul(q[k]);
                    }
                    idct_islow(&deq, &mut c.plane, by * 8 * stride + bx * 8, stride);
                }
            }
        }
        let mut rgb = vec![0u8; width * height * 3];
        if n == 1 {
            let c = &self.comps[0];
            let stride = c.bw * 8;
            for y in 0..height {
                for x in 0..width {
                    let v = c.plane[y * stride + x];
                    rgb[(y * width + x) * 3..(y * width + x) * 3 + 3].copy_from_slice(&[v, v, v]);
                }
            }
            return Some(Decoded { width, height, rgb });
        }
        let (hs, vs) = (self.comps[0].h, self.comps[0].v);
        let up: Vec<Vec<u8>> = self.comps[1..]
            .iter()
            .map(|c| upsample(c, width, height, hs, vs))
            .collect();
        let y_plane = &self.comps[0];
        let ys = y_plane.bw * 8;
        let t = ycc_tables();
        for y in 0..height {
            for x in 0..width {
                let yy = y_plane.plane[y * ys + x] as i32;
                let cb = up[0][y * width + x] as usize;
                let cr = up[1][y * width + x] as usize;
                let r = yy + t.cr_r[cr];
                let g = yy + ((t.cb_g[cb] + t.cr_g[cr]) >> 16) as i32;
                let b = yy + t.cb_b[cb];
                let o = (y * width + x) * 3;
                rgb[o] = r.clamp(0, 255) as u8;
                rgb[o + 1] = g.clamp(0, 255) as u8;
                rgb[o + 2] = b.clamp(0, 255) as u8;
            }
        }
        Some(Decoded { width, height, rgb })
    }
}

/// AC coefficients `k0..=se` of a first (or baseline) scan, values scaled by `2^al`.
fn ac_first(
    bits: &mut Bits,
    act: &Huffman,
    blk: &mut [i32; 64],
    k0: usize,
    se: usize,
    al: u32,
    eobrun: &mut u32,
) -> Option<()> {
    if *eobrun > 0 {
        *eobrun -= 1;
        return Some(());
    }
    let mut k = k0;
    while k <= se {
        let rs = bits.decode(act)?;
        let (r, s) = ((rs >> 4) as u32, (rs & 15) as u32);
        if s == 0 {
            if r < 15 {
                *eobrun = (1 << r) - 1;
                if r > 0 {
                    *eobrun += bits.bits(r) as u32;
                }
                break;
            }
            k += 16;
            continue;
        }
        k += r as usize;
        if k > 63 {
            return None;
        }
        blk[ZIGZAG[k]] = extend(bits.bits(s), s) * (1 << al);
        k += 1;
    }
    Some(())
}

/// A successive-approximation refinement scan of AC coefficients `k0..=se` (libjpeg's
/// `decode_mcu_AC_refine`).
fn ac_refine(
    bits: &mut Bits,
    act: &Huffman,
    blk: &mut [i32; 64],
    k0: usize,
    se: usize,
    al: u32,
    eobrun: &mut u32,
) -> Option<()> {
    let p1 = 1i32 << al;
    let m1 = -1i32 << al;
    let mut k = k0;
    let refine = |bits: &mut Bits, c: &mut i32| {
        if bits.bits(1) == 1 && (*c & p1) == 0 {
            *c += if *c >= 0 { p1 } else { m1 };
        }
    };
    if *eobrun == 0 {
        while k <= se {
            let rs = bits.decode(act)?;
            let mut r = (rs >> 4) as i32;
            let mut s = (rs & 15) as i32;
            if s != 0 {
                s = if bits.bits(1) == 1 { p1 } else { m1 };
            } else if r != 15 {
                *eobrun = 1 << r;
                if r > 0 {
                    *eobrun += bits.bits(r as u32) as u32;
                }
                break;
            }
            while k <= se {
                let z = ZIGZAG[k];
                if blk[z] != 0 {
                    refine(bits, &mut blk[z]);
                } else {
                    r -= 1;
                    if r < 0 {
                        break;
                    }
                }
                k += 1;
            }
            if s != 0 {
                if k > 63 {
                    return None;
                }
                blk[ZIGZAG[k]] = s;
            }
            k += 1;
        }
    }
    if *eobrun > 0 {
        while k <= se {
            let z = ZIGZAG[k];
            if blk[z] != 0 {
                refine(bits, &mut blk[z]);
            }
            k += 1;
        }
        *eobrun -= 1;
    }
    Some(())
}

struct YccTables {
    cr_r: [i32; 256],
    cb_b: [i32; 256],
    cr_g: [i64; 256],
    cb_g: [i64; 256],
}

/// libjpeg's `build_ycc_rgb_table` (SCALEBITS 16).
fn ycc_tables() -> YccTables {
    let fix = |x: f64| (x * 65536.0 + 0.5) as i64;
    let half = 1i64 << 15;
    let mut t = YccTables {
        cr_r: [0; 256],
        cb_b: [0; 256],
        cr_g: [0; 256],
        cb_g: [0; 256],
    };
    for i in 0..256 {
        let x = i as i64 - 128;
        t.cr_r[i] = ((fix(1.40200) * x + half) >> 16) as i32;
        t.cb_b[i] = ((fix(1.77200) * x + half) >> 16) as i32;
        t.cr_g[i] = -fix(0.71414) * x;
        t.cb_g[i] = -fix(0.34414) * x + half;
    }
    t
}

/// libjpeg-turbo's fancy upsampling of a chroma plane to `width × height` (h, v factors of
/// luma relative to chroma: 1×1 copy, 2×1 `h2v1_fancy`, 2×2 `h2v2_fancy`). Edge rows repeat
/// the first / last real row; real columns are `ceil(width / h)`. Planes narrower than 3
/// columns use plain replication, as libjpeg-turbo does.
fn upsample(c: &Component, width: usize, height: usize, h: usize, v: usize) -> Vec<u8> {
    let stride = c.bw * 8;
    let cw = width.div_ceil(h);
    let ch = height.div_ceil(v);
    let at = |y: usize, x: usize| c.plane[y * stride + x] as i32;
    let mut out = vec![0u8; width * height];
    let fancy = cw > 2;
    for y in 0..height {
        let sy = y / v;
        for x in 0..width {
            let val = match (h, v, fancy) {
                (1, 1, _) => at(sy, x),
                (_, _, false) => at(sy, x / h),
                (2, 1, true) => {
                    let sx = x / 2;
                    let cur = at(sy, sx) * 3;
                    if x % 2 == 0 {
                        if sx == 0 {
                            at(sy, 0)
                        } else {
                            (cur + at(sy, sx - 1) + 1) >> 2
                        }
                    } else if sx == cw - 1 {
                        at(sy, sx)
                    } else {
                        (cur + at(sy, sx + 1) + 2) >> 2
                    }
                }
                _ => {
                    // h2v2: vertical weights 3:1 towards the nearer neighbour row.
                    let near = sy;
                    let far = if y % 2 == 0 {
                        sy.saturating_sub(1)
                    } else {
                        (sy + 1).min(ch - 1)
                    };
                    let colsum = |sx: usize| at(near, sx) * 3 + at(far, sx);
                    let sx = x / 2;
                    let this = colsum(sx);
                    if x % 2 == 0 {
                        if sx == 0 {
                            (this * 4 + 8) >> 4
                        } else {
                            (this * 3 + colsum(sx - 1) + 8) >> 4
                        }
                    } else if sx == cw - 1 {
                        (this * 4 + 7) >> 4
                    } else {
                        (this * 3 + colsum(sx + 1) + 7) >> 4
                    }
                }
            };
            out[y * width + x] = val as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idct_of_dc_only_block_is_flat() {
        // DC coefficient 80 (dequantised) → 80/8 = 10 above mid-grey.
        let mut coef = [0i32; 64];
        coef[0] = 80;
        let mut out = vec![0u8; 64];
        idct_islow(&coef, &mut out, 0, 8);
        assert!(out.iter().all(|&v| v == 138), "{out:?}");
    }

    #[test]
    fn ycc_tables_map_grey_to_grey() {
        let t = ycc_tables();
        assert_eq!((t.cr_r[128], t.cb_b[128]), (0, 0));
        assert_eq!((t.cb_g[128] + t.cr_g[128]) >> 16, 0);
        // Full-scale chroma: 1.402 · 127 ≈ 178.
        assert_eq!(t.cr_r[255], 178);
    }

    #[test]
    fn refuses_what_it_does_not_reproduce() {
        assert!(decode(b"not a jpeg").is_none());
        // A frame header with no scan after it.
        let prog = [
            0xFF, 0xD8, 0xFF, 0xC2, 0x00, 0x0B, 8, 0, 8, 0, 8, 1, 1, 0x11, 0,
        ];
        assert!(decode(&prog).is_none());
        // Truncated SOF0.
        assert!(decode(&[0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x04, 8, 0]).is_none());
    }
}
