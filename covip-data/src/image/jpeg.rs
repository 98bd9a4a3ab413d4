//! A JPEG decoder that reproduces libjpeg-turbo's default output (what Pillow decodes with):
//! the accurate integer IDCT (`JDCT_ISLOW`), "fancy" (triangle) chroma upsampling with its edge
//! handling, and its fixed-point YCbCr → RGB tables.
//!
//! Handled: 8-bit Huffman JPEG, baseline / extended / progressive (SOF0–2, any scan layout,
//! restart markers), 1 (grey) or 3 (YCbCr) components, chroma subsampled 1×1, 2×1 or 2×2.
//!
//! Hostile files: every header field is checked as libjpeg checks it (segment lengths, frame
//! size, precision, component count, sampling factors, component and table ids, Huffman code
//! lengths, the spectral and approximation ranges of progressive scans), and the frame's
//! pixel count is held to a cap before anything is allocated. What libjpeg refuses gives
//! [`JpegError::Refused`] with a message; a well-formed JPEG that this module does not
//! reproduce (CMYK, RGB-coded, 12-bit, arithmetic coding, other subsamplings) or whose
//! entropy-coded data is damaged gives [`JpegError::Unsupported`], and the caller falls back
//! to a general decoder (under the same cap).

/// An image decoded to interleaved RGB.
pub(crate) struct Decoded {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

/// Why [`decode`] returned no image.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum JpegError {
    /// Not a JPEG, or one this module does not reproduce (or with damaged entropy-coded data):
    /// another decoder may try it.
    Unsupported,
    /// A header libjpeg refuses too, or a frame over the pixel cap; the message says which
    /// field is wrong.
    Refused(String),
}

type Res<T> = Result<T, JpegError>;

fn refused<T>(msg: impl Into<String>) -> Res<T> {
    Err(JpegError::Refused(msg.into()))
}

/// Scans allowed in one file. libjpeg sets none; a progressive file has about ten, and each
/// scan walks the whole frame, so a file of thousands of empty scans would be a time bomb.
pub(crate) const MAX_SCANS: usize = 1000;

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
    /// Builds the decoding lists; `None` when the code lengths overflow (libjpeg's
    /// `JERR_BAD_HUFF_TABLE`: no code of a length may be all ones).
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
            if n > 0 && code >= 1 << l {
                return None;
            }
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

    /// The next `n <= 16` bits.
    fn bits(&mut self, n: u32) -> i32 {
        debug_assert!(n <= 16);
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
    /// Quantisation table selector of the frame header.
    tq: usize,
    /// The table, copied when the component's first scan starts (libjpeg latches it then).
    qt: Option<[i32; 64]>,
    /// Blocks per line / column, padded to whole MCUs.
    bw: usize,
    bh: usize,
    /// Blocks holding image samples (a non-interleaved scan covers only these).
    bw_real: usize,
    bh_real: usize,
    /// Quantised coefficients, natural order, `[bh·bw, 64]`; `i16` as libjpeg's `JCOEF`
    /// (damaged data truncates the same way).
    coefs: Vec<i16>,
    /// Decoded samples `[bh·8, bw·8]`.
    plane: Vec<u8>,
}

/// One scan's parameters: components with their (DC, AC) Huffman table selectors.
struct Scan {
    comps: Vec<(usize, usize, usize)>,
    ss: usize,
    se: usize,
    ah: u32,
    al: u32,
}

struct State<'a> {
    qt: [Option<[i32; 64]>; 4],
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

/// Whether `bytes` starts with a JPEG start-of-image marker.
pub(crate) fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.len() >= 3 && bytes[..3] == [0xFF, 0xD8, 0xFF]
}

/// Decodes `bytes` if it is a JPEG this module reproduces exactly. A frame of more than
/// `max_pixels` pixels is refused before anything is allocated.
pub(crate) fn decode(bytes: &[u8], max_pixels: u64) -> Res<Decoded> {
    if bytes.len() < 4 || bytes[0] != 0xFF || bytes[1] != 0xD8 {
        return Err(JpegError::Unsupported);
    }
    let mut st = State {
        qt: [None; 4],
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
        // A file that ends without an end-of-image marker is truncated: libjpeg decodes it
        // with a warning, Pillow refuses it; the fallback decoder decides.
        let Some(&marker) = bytes.get(pos) else {
            return Err(JpegError::Unsupported);
        };
        pos += 1;
        match marker {
            0xD9 if scans > 0 => return st.finish(),
            0xD9 => return refused("the image ends before its first scan (no SOS marker)"),
            0xD8 => return refused("a second start-of-image marker"),
            // Markers without a length: restarts outside a scan, TEM.
            0xD0..=0xD7 | 0x01 => continue,
            _ => {}
        }
        let name = marker_name(marker);
        let (Some(&hi), Some(&lo)) = (bytes.get(pos), bytes.get(pos + 1)) else {
            return refused(format!("the file ends inside the {name} segment"));
        };
        let len = u16::from_be_bytes([hi, lo]) as usize;
        if len < 2 {
            return refused(format!("{name} segment length {len} is less than 2"));
        }
        let Some(seg) = bytes.get(pos + 2..pos + len) else {
            return refused(format!(
                "the file ends inside the {name} segment ({len} bytes declared, {} left)",
                bytes.len() - pos
            ));
        };
        match marker {
            0xDB => st.define_quant_tables(seg)?,
            0xC4 => st.define_huffman_tables(seg)?,
            0xC0..=0xC2 => st.frame(marker, seg, max_pixels)?,
            // Lossless, hierarchical and arithmetic-coded frames: not reproduced here. Their
            // size is still held to the cap.
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                if seg.len() >= 5 {
                    let h = u16::from_be_bytes([seg[1], seg[2]]) as u64;
                    let w = u16::from_be_bytes([seg[3], seg[4]]) as u64;
                    check_pixels(w, h, max_pixels)?;
                }
                return Err(JpegError::Unsupported);
            }
            0xDD => {
                if seg.len() != 2 {
                    return refused(format!("DRI segment length {len} is not 4"));
                }
                st.restart_interval = u16::from_be_bytes([seg[0], seg[1]]) as usize;
            }
            0xEE if seg.len() >= 12 && &seg[..5] == b"Adobe" => st.adobe_transform = Some(seg[11]),
            0xDA => {
                scans += 1;
                if scans > MAX_SCANS {
                    return refused(format!("more than {MAX_SCANS} scans"));
                }
                let scan = st.scan_header(seg)?;
                pos = st.scan(&scan, pos + len)?;
                continue;
            }
            _ => {}
        }
        pos += len;
    }
}

/// The marker's name for messages.
fn marker_name(marker: u8) -> String {
    match marker {
        0xC0..=0xC2 => format!("SOF{}", marker - 0xC0),
        0xC4 => "DHT".into(),
        0xDA => "SOS".into(),
        0xDB => "DQT".into(),
        0xDD => "DRI".into(),
        0xE0..=0xEF => format!("APP{}", marker - 0xE0),
        0xFE => "COM".into(),
        m => format!("marker 0xFF{m:02X}"),
    }
}

/// Refuses a frame of more than `max_pixels` pixels.
fn check_pixels(width: u64, height: u64, max_pixels: u64) -> Res<()> {
    let pixels = width * height;
    if pixels > max_pixels {
        return refused(format!(
            "the frame is {width}x{height} = {pixels} pixels, more than the limit of \
             {max_pixels} (raise DecodeLimits::max_pixels to accept it)"
        ));
    }
    Ok(())
}

impl State<'_> {
    /// DQT: one or more quantisation tables.
    fn define_quant_tables(&mut self, seg: &[u8]) -> Res<()> {
        let mut s = seg;
        while let Some(&head) = s.first() {
            let (pq, tq) = ((head >> 4) as usize, (head & 15) as usize);
            if pq > 1 {
                return refused(format!("DQT: table {tq} has precision {pq} (0 or 1)"));
            }
            if tq > 3 {
                return refused(format!("DQT: table id {tq} (tables are 0 to 3)"));
            }
            let n = if pq == 0 { 64 } else { 128 };
            let Some(vals) = s.get(1..1 + n) else {
                return refused(format!(
                    "DQT: table {tq} needs {n} values, the segment has {}",
                    s.len() - 1
                ));
            };
            let mut table = [0i32; 64];
            for k in 0..64 {
                table[ZIGZAG[k]] = if pq == 0 {
                    vals[k] as i32
                } else {
                    u16::from_be_bytes([vals[2 * k], vals[2 * k + 1]]) as i32
                };
            }
            self.qt[tq] = Some(table);
            s = &s[1 + n..];
        }
        Ok(())
    }

    /// DHT: one or more Huffman tables.
    fn define_huffman_tables(&mut self, seg: &[u8]) -> Res<()> {
        let mut s = seg;
        while let Some(&head) = s.first() {
            let (class, id) = ((head >> 4) as usize, (head & 15) as usize);
            if class > 1 {
                return refused(format!("DHT: table class {class} (0 = DC, 1 = AC)"));
            }
            if id > 3 {
                return refused(format!("DHT: table id {id} (tables are 0 to 3)"));
            }
            let Some(counts) = s.get(1..17) else {
                return refused("DHT: the segment ends inside the code-length counts");
            };
            let counts: [u8; 16] = counts.try_into().expect("16 bytes");
            let n: usize = counts.iter().map(|&c| c as usize).sum();
            if n > 256 {
                return refused(format!("DHT: table {id} claims {n} symbols (at most 256)"));
            }
            let Some(vals) = s.get(17..17 + n) else {
                return refused(format!(
                    "DHT: table {id} claims {n} symbols, the segment has {}",
                    s.len() - 17
                ));
            };
            let Some(h) = Huffman::new(&counts, vals.to_vec()) else {
                return refused(format!("DHT: table {id} has overflowing code lengths"));
            };
            match class {
                0 => self.dc[id] = Some(h),
                _ => self.ac[id] = Some(h),
            }
            s = &s[17 + n..];
        }
        Ok(())
    }

    /// SOF0–2: the frame header; refuses it (before any allocation) past the pixel cap.
    fn frame(&mut self, marker: u8, seg: &[u8], max_pixels: u64) -> Res<()> {
        let name = marker_name(marker);
        if !self.comps.is_empty() {
            return refused(format!("{name}: a second frame header"));
        }
        if seg.len() < 6 {
            return refused(format!(
                "{name}: segment of {} bytes is too short",
                seg.len()
            ));
        }
        let precision = seg[0];
        self.height = u16::from_be_bytes([seg[1], seg[2]]) as usize;
        self.width = u16::from_be_bytes([seg[3], seg[4]]) as usize;
        let n = seg[5] as usize;
        if self.width == 0 || self.height == 0 {
            return refused(format!(
                "{name}: the frame is {}x{} (empty; DNL markers are not supported)",
                self.width, self.height
            ));
        }
        if n == 0 || n > 10 {
            return refused(format!("{name}: {n} components (1 to 10)"));
        }
        if seg.len() != 6 + 3 * n {
            return refused(format!(
                "{name}: segment of {} bytes for {n} components (needs {})",
                seg.len(),
                6 + 3 * n
            ));
        }
        check_pixels(self.width as u64, self.height as u64, max_pixels)?;
        let mut comps = Vec::with_capacity(n);
        for c in seg[6..].chunks_exact(3) {
            let (id, h, v, tq) = (c[0], (c[1] >> 4) as usize, (c[1] & 15) as usize, c[2]);
            if !(1..=4).contains(&h) || !(1..=4).contains(&v) {
                return refused(format!(
                    "{name}: component {id} has sampling factors {h}x{v} (each 1 to 4)"
                ));
            }
            if tq > 3 {
                return refused(format!(
                    "{name}: component {id} uses quantisation table {tq} (tables are 0 to 3)"
                ));
            }
            comps.push(Component {
                id,
                h,
                v,
                tq: tq as usize,
                qt: None,
                bw: 0,
                bh: 0,
                bw_real: 0,
                bh_real: 0,
                coefs: Vec::new(),
                plane: Vec::new(),
            });
        }
        if precision != 8 {
            return if precision == 12 {
                Err(JpegError::Unsupported)
            } else {
                refused(format!("{name}: sample precision {precision} (8 or 12)"))
            };
        }
        // CMYK and other component counts, and files with repeated component ids (which
        // libjpeg-turbo renames), go to the fallback.
        let repeated = comps
            .iter()
            .enumerate()
            .any(|(i, c)| comps[..i].iter().any(|d| d.id == c.id));
        if (n != 1 && n != 3) || repeated {
            return Err(JpegError::Unsupported);
        }
        self.progressive = marker == 0xC2;
        self.comps = comps;
        self.layout();
        Ok(())
    }

    /// Block grids once the frame header is known (size already held to the cap).
    fn layout(&mut self) {
        if self.comps.len() == 1 {
            // A single component is never subsampled relative to itself.
            self.comps[0].h = 1;
            self.comps[0].v = 1;
        }
        self.hmax = self.comps.iter().map(|c| c.h).max().unwrap_or(1);
        self.vmax = self.comps.iter().map(|c| c.v).max().unwrap_or(1);
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
    }

    /// SOS: checks the scan header as libjpeg does (`get_sos`, `start_pass_huff_decoder`,
    /// `start_pass_phuff_decoder`, `latch_quant_tables`).
    fn scan_header(&mut self, seg: &[u8]) -> Res<Scan> {
        if self.comps.is_empty() {
            return refused("SOS: a scan before the frame header (SOF)");
        }
        let ns = seg.first().copied().unwrap_or(0) as usize;
        if ns == 0 || ns > 4 || ns > self.comps.len() || seg.len() != 4 + 2 * ns {
            return refused(format!(
                "SOS: {ns} components in a segment of {} bytes (1 to {} components, 4 + 2 \
                 bytes each)",
                seg.len(),
                self.comps.len().min(4)
            ));
        }
        let mut comps: Vec<(usize, usize, usize)> = Vec::with_capacity(ns);
        for i in 0..ns {
            let (cid, t) = (seg[1 + 2 * i], seg[2 + 2 * i]);
            let Some(ci) = self.comps.iter().position(|c| c.id == cid) else {
                return refused(format!("SOS: component id {cid} is not in the frame"));
            };
            if comps.iter().any(|&(c, _, _)| c == ci) {
                return refused(format!("SOS: component id {cid} appears twice"));
            }
            let (td, ta) = ((t >> 4) as usize, (t & 15) as usize);
            if td > 3 || ta > 3 {
                return refused(format!(
                    "SOS: component {cid} selects Huffman tables DC {td} / AC {ta} (tables are \
                     0 to 3)"
                ));
            }
            comps.push((ci, td, ta));
        }
        let p = &seg[1 + 2 * ns..];
        let scan = Scan {
            comps,
            ss: p[0] as usize,
            se: p[1] as usize,
            ah: (p[2] >> 4) as u32,
            al: (p[2] & 15) as u32,
        };
        let (ss, se, ah, al) = (scan.ss, scan.se, scan.ah, scan.al);
        if self.progressive {
            let dc_band = ss == 0;
            let bad = (dc_band && se != 0)
                || (!dc_band && (ss > se || se > 63 || ns != 1))
                || (ah != 0 && al + 1 != ah)
                || al > 13;
            if bad {
                return refused(format!(
                    "SOS: invalid progressive scan Ss={ss} Se={se} Ah={ah} Al={al}"
                ));
            }
        } else if ss != 0 || se != 63 || ah != 0 || al != 0 {
            // libjpeg warns and decodes a full sequential scan; not reproduced here.
            return Err(JpegError::Unsupported);
        }
        let need_dc = !self.progressive || (ss == 0 && ah == 0);
        let need_ac = !self.progressive || ss > 0;
        for &(ci, td, ta) in &scan.comps {
            let id = self.comps[ci].id;
            for (need, tables, t, class) in
                [(need_dc, &self.dc, td, "DC"), (need_ac, &self.ac, ta, "AC")]
            {
                if !need {
                    continue;
                }
                match &tables[t] {
                    // libjpeg-turbo substitutes the standard tables 0 and 1 (Motion-JPEG).
                    None if t <= 1 => return Err(JpegError::Unsupported),
                    None => {
                        return refused(format!(
                            "SOS: component {id} uses {class} Huffman table {t}, which no DHT \
                             defined"
                        ));
                    }
                    Some(h) if class == "DC" && h.vals.iter().any(|&s| s > 15) => {
                        return refused(format!(
                            "DHT: DC table {t} holds a symbol over 15 (component {id})"
                        ));
                    }
                    Some(_) => {}
                }
            }
            let c = &mut self.comps[ci];
            if c.qt.is_none() {
                match self.qt[c.tq] {
                    Some(q) => c.qt = Some(q),
                    None => {
                        return refused(format!(
                            "SOS: component {id} uses quantisation table {}, which no DQT \
                             defined",
                            c.tq
                        ));
                    }
                }
            }
        }
        Ok(scan)
    }

    /// Decodes one scan starting at `start`; returns where the next marker search begins.
    /// Damaged entropy-coded data gives [`JpegError::Unsupported`].
    fn scan(&mut self, scan: &Scan, start: usize) -> Res<usize> {
        let data = self.data;
        let mut bits = Bits {
            data: data.get(start..).ok_or(JpegError::Unsupported)?,
            pos: 0,
            acc: 0,
            nbits: 0,
            hit_marker: false,
        };
        let mut preds = vec![0i32; self.comps.len()];
        let mut eobrun = 0u32;
        let ri = self.restart_interval;
        // MCUs in scan order: one block each for a single-component scan, else the
        // interleaved MCUs of the frame.
        let (mcux, mcuy) = if let [(ci, _, _)] = scan.comps[..] {
            (self.comps[ci].bw_real, self.comps[ci].bh_real)
        } else {
            (
                self.width.div_ceil(8 * self.hmax),
                self.height.div_ceil(8 * self.vmax),
            )
        };
        let single = scan.comps.len() == 1;
        for n in 0..mcux * mcuy {
            if ri > 0 && n > 0 && n % ri == 0 {
                if !bits.restart() {
                    return Err(JpegError::Unsupported);
                }
                preds.iter_mut().for_each(|p| *p = 0);
                eobrun = 0;
            }
            let (my, mx) = (n / mcux, n % mcux);
            for &(ci, td, ta) in &scan.comps {
                let tables = (self.dc[td].as_ref(), self.ac[ta].as_ref());
                let c = &mut self.comps[ci];
                let (cv, ch) = if single { (1, 1) } else { (c.v, c.h) };
                for v in 0..cv {
                    for h in 0..ch {
                        let o = ((my * cv + v) * c.bw + mx * ch + h) * 64;
                        let blk: &mut [i16; 64] = (&mut c.coefs[o..o + 64])
                            .try_into()
                            .expect("64 coefficients");
                        decode_block(&mut bits, scan, tables, blk, &mut preds[ci], &mut eobrun)?;
                    }
                }
            }
        }
        // Resume the marker search where the entropy-coded data stopped.
        let mut p = bits.pos;
        let d = bits.data;
        while p + 1 < d.len()
            && !(d[p] == 0xFF && d[p + 1] != 0x00 && !(0xD0..=0xD7).contains(&d[p + 1]))
        {
            p += 1;
        }
        Ok(start + p)
    }

    fn finish(mut self) -> Res<Decoded> {
        let (width, height) = (self.width, self.height);
        let n = self.comps.len();
        if n == 3 {
            // RGB-coded files (Adobe transform 0, or ids 'R','G','B') are left to the fallback.
            if self.adobe_transform == Some(0) || self.comps.iter().map(|c| c.id).eq(*b"RGB") {
                return Err(JpegError::Unsupported);
            }
            let (h0, v0) = (self.comps[0].h, self.comps[0].v);
            let ok = matches!((h0, v0), (1, 1) | (2, 1) | (2, 2))
                && self.comps[1..].iter().all(|c| c.h == 1 && c.v == 1);
            if !ok {
                return Err(JpegError::Unsupported);
            }
        }
        let mut deq = [0i32; 64];
        for c in self.comps.iter_mut() {
            // A component no scan covered has no latched table: libjpeg's zeroed multiplier
            // table makes it mid-grey.
            let q = c.qt.unwrap_or([0; 64]);
            let stride = c.bw * 8;
            c.plane = vec![0; stride * c.bh * 8];
            for by in 0..c.bh {
                for bx in 0..c.bw {
                    let o = (by * c.bw + bx) * 64;
                    for k in 0..64 {
                        deq[k] = (c.coefs[o + k] as i32).wrapping_mul(q[k]);
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
            return Ok(Decoded { width, height, rgb });
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
        Ok(Decoded { width, height, rgb })
    }
}

/// One block of one scan: DC first / refine, then the AC band.
fn decode_block(
    bits: &mut Bits,
    scan: &Scan,
    (dct, act): (Option<&Huffman>, Option<&Huffman>),
    blk: &mut [i16; 64],
    pred: &mut i32,
    eobrun: &mut u32,
) -> Res<()> {
    // The tables a scan needs were checked in its header; a missing one here is a bug.
    fn table(t: Option<&Huffman>) -> Res<&Huffman> {
        t.ok_or(JpegError::Unsupported)
    }
    if scan.ss == 0 {
        if scan.ah == 0 {
            let s = bits.decode(table(dct)?).ok_or(JpegError::Unsupported)? as u32;
            // DC symbols are at most 15 (checked with the table).
            *pred = pred.wrapping_add(extend(bits.bits(s), s));
            // JCOEF truncation, as libjpeg (`(JCOEF) LEFT_SHIFT(s, Al)`).
            blk[0] = pred.wrapping_mul(1 << scan.al) as i16;
        } else if bits.bits(1) == 1 {
            blk[0] |= 1 << scan.al;
        }
        if scan.se == 0 {
            return Ok(());
        }
    }
    let k0 = scan.ss.max(1);
    let act = table(act)?;
    let done = if scan.ah == 0 {
        ac_first(bits, act, blk, k0, scan.se, scan.al, eobrun)
    } else {
        ac_refine(bits, act, blk, k0, scan.se, scan.al, eobrun)
    };
    done.ok_or(JpegError::Unsupported)
}

/// AC coefficients `k0..=se` of a first (or baseline) scan, values scaled by `2^al`.
/// `None` on damaged data.
fn ac_first(
    bits: &mut Bits,
    act: &Huffman,
    blk: &mut [i16; 64],
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
        // |extend| < 2^15 and al <= 13: no i32 overflow; JCOEF truncation as libjpeg.
        blk[ZIGZAG[k]] = (extend(bits.bits(s), s) * (1 << al)) as i16;
        k += 1;
    }
    Some(())
}

/// A successive-approximation refinement scan of AC coefficients `k0..=se` (libjpeg's
/// `decode_mcu_AC_refine`). `None` on damaged data.
fn ac_refine(
    bits: &mut Bits,
    act: &Huffman,
    blk: &mut [i16; 64],
    k0: usize,
    se: usize,
    al: u32,
    eobrun: &mut u32,
) -> Option<()> {
    let p1 = 1i16 << al;
    let m1 = -1i16 << al;
    let mut k = k0;
    let refine = |bits: &mut Bits, c: &mut i16| {
        if bits.bits(1) == 1 && (*c & p1) == 0 {
            *c = c.wrapping_add(if *c >= 0 { p1 } else { m1 });
        }
    };
    if *eobrun == 0 {
        while k <= se {
            let rs = bits.decode(act)?;
            let mut r = (rs >> 4) as i32;
            let mut s = (rs & 15) as i16;
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

    fn refusal(bytes: &[u8]) -> String {
        match decode(bytes, 1 << 20) {
            Err(JpegError::Refused(m)) => m,
            Err(JpegError::Unsupported) => panic!("unsupported, not refused"),
            Ok(_) => panic!("decoded"),
        }
    }

    #[test]
    fn refuses_bad_headers_with_a_message() {
        assert_eq!(
            decode(b"not a jpeg", 1 << 20).err(),
            Some(JpegError::Unsupported)
        );
        // A frame header with no scan after it, then EOI.
        let no_scan = [
            0xFF, 0xD8, 0xFF, 0xC2, 0x00, 0x0B, 8, 0, 8, 0, 8, 1, 1, 0x11, 0, 0xFF, 0xD9,
        ];
        assert!(refusal(&no_scan).contains("no SOS"));
        // Truncated SOF0.
        let m = refusal(&[0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x09, 8, 0]);
        assert!(m.contains("ends inside the SOF0"), "{m}");
        // Sampling factor 0, quantisation table 7, zero width.
        let sof = |w: u16, hv: u8, tq: u8| {
            let [w0, w1] = w.to_be_bytes();
            vec![
                0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 8, 0, 8, w0, w1, 1, 1, hv, tq, 0xFF, 0xD9,
            ]
        };
        assert!(refusal(&sof(8, 0x01, 0)).contains("sampling factors 0x1"));
        assert!(refusal(&sof(8, 0x11, 7)).contains("quantisation table 7"));
        assert!(refusal(&sof(0, 0x11, 0)).contains("empty"));
        // A DHT whose counts claim more symbols than the segment holds.
        let mut dht = vec![0xFF, 0xD8, 0xFF, 0xC4, 0x00, 0x13, 0x00];
        dht.extend([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200]);
        assert!(refusal(&dht).contains("claims 200 symbols"));
    }

    #[test]
    fn refuses_a_bomb_before_allocating() {
        // 65000x65000, 3 components: refused at the frame header.
        let mut b = vec![0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 8];
        b.extend(65000u16.to_be_bytes());
        b.extend(65000u16.to_be_bytes());
        b.extend([3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1, 0xFF, 0xD9]);
        let m = match decode(&b, 89_478_485) {
            Err(JpegError::Refused(m)) => m,
            _ => panic!("not refused"),
        };
        assert!(m.contains("65000x65000") && m.contains("89478485"), "{m}");
    }
}
