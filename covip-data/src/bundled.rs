//! The bundled sample set under `data/sample/`, made here from nothing: concepts drawn with
//! simple shapes, query scenes composed from them, 6-turn dialogues with names, places and
//! dates, QAs of both polarities, samples with 1 to 4 present concepts, and the three
//! diagnostic sets. Deterministic: the same code writes the same files.
use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};
use ndarray::Array2;

use crate::assembly::{AssemblyConfig, BankEntry, ConceptBank, assemble};
use crate::concept::{Concept, ConceptKind};
use crate::diagnostics::{DiagnosticConfig, DiagnosticKind, Person, build_diagnostic_set};
use crate::dialogue::Dialogue;
use crate::error::DataError;
use crate::formats::{
    TrainRecord, write_downstream_json, write_downstream_parquet, write_test_set, write_train,
};
use crate::image::ImageRef;
use crate::qa::{Letter, Qa};
use crate::rng::SeededRng;
use crate::sample::{ContextEntry, Sample, TaskKind};

/// The fixed D option.
pub const CANNOT_DETERMINE: &str = "The answer cannot be determined";

struct ConceptSpec {
    name: &'static str,
    kind: ConceptKind,
    main: [u8; 3],
    accent: [u8; 3],
    place: &'static str,
    date: &'static str,
    event: &'static str,
}

const fn spec(
    name: &'static str,
    kind: ConceptKind,
    main: [u8; 3],
    accent: [u8; 3],
    place: &'static str,
    date: &'static str,
    event: &'static str,
) -> ConceptSpec {
    ConceptSpec {
        name,
        kind,
        main,
        accent,
        place,
        date,
        event,
    }
}

use ConceptKind::{Human, Object, Pet};

const CONCEPTS: &[ConceptSpec] = &[
    spec(
        "Mina",
        Human,
        [200, 60, 60],
        [40, 30, 20],
        "Busan Station",
        "March 3, 2024",
        "a surprise birthday lunch",
    ),
    spec(
        "Oliver",
        Human,
        [60, 90, 200],
        [230, 200, 90],
        "the harbour market",
        "June 14, 2023",
        "a sailing lesson",
    ),
    spec(
        "Priya",
        Human,
        [60, 170, 90],
        [20, 20, 20],
        "Lakeside Library",
        "October 9, 2024",
        "a poetry reading",
    ),
    spec(
        "Tomas",
        Human,
        [220, 150, 40],
        [90, 50, 20],
        "the old tram depot",
        "January 21, 2024",
        "a photo walk",
    ),
    spec(
        "Aiko",
        Human,
        [150, 70, 170],
        [30, 20, 40],
        "Cherry Hill Park",
        "April 2, 2023",
        "a picnic under the blossoms",
    ),
    spec(
        "Biscuit",
        Pet,
        [200, 160, 100],
        [120, 80, 40],
        "the dog beach",
        "August 5, 2024",
        "his first swim",
    ),
    spec(
        "Luna",
        Pet,
        [70, 70, 80],
        [240, 240, 240],
        "Grandma's farmhouse",
        "December 24, 2023",
        "a snowy Christmas Eve",
    ),
    spec(
        "Pepper",
        Pet,
        [240, 240, 230],
        [30, 30, 30],
        "the vet clinic on Elm Street",
        "May 18, 2024",
        "her yearly check-up",
    ),
    spec(
        "Mochi",
        Pet,
        [250, 200, 210],
        [200, 90, 120],
        "the rooftop garden",
        "September 1, 2023",
        "chasing butterflies",
    ),
    spec(
        "Old Blue",
        Object,
        [40, 80, 160],
        [200, 200, 210],
        "the repair shop downtown",
        "February 11, 2024",
        "getting new tyres",
    ),
    spec(
        "Sunny",
        Object,
        [250, 220, 40],
        [120, 90, 30],
        "the flea market",
        "July 7, 2023",
        "a lucky bargain",
    ),
    spec(
        "Kettle Kate",
        Object,
        [180, 60, 30],
        [60, 60, 60],
        "the mountain cabin",
        "November 30, 2023",
        "a cold morning tea",
    ),
];

const SCENES: &[(&str, [u8; 3])] = &[
    ("kitchen", [235, 225, 200]),
    ("park", [150, 200, 130]),
    ("beach", [240, 220, 160]),
    ("living room", [200, 190, 210]),
];

const OTHER_PLACES: &[&str] = &[
    "the city museum",
    "a ski resort",
    "the night market",
    "a lakeside cabin",
    "the central bus terminal",
    "a rooftop bar",
];
const OTHER_DATES: &[&str] = &[
    "last Christmas",
    "August 30, 2022",
    "the first week of spring",
    "New Year's Day",
    "March 15, 2021",
    "a rainy Tuesday in May",
];
const OTHER_EVENTS: &[&str] = &[
    "a job interview",
    "a cooking contest",
    "a charity run",
    "moving house",
    "a board-game night",
    "a wedding rehearsal",
];

fn fill_rect(img: &mut RgbImage, x0: i32, y0: i32, x1: i32, y1: i32, c: [u8; 3]) {
    for y in y0.max(0)..y1.min(img.height() as i32) {
        for x in x0.max(0)..x1.min(img.width() as i32) {
            img.put_pixel(x as u32, y as u32, Rgb(c));
        }
    }
}

fn fill_ellipse(img: &mut RgbImage, cx: f32, cy: f32, rx: f32, ry: f32, c: [u8; 3]) {
    let (w, h) = (img.width() as i32, img.height() as i32);
    for y in ((cy - ry) as i32).max(0)..((cy + ry) as i32 + 1).min(h) {
        for x in ((cx - rx) as i32).max(0)..((cx + rx) as i32 + 1).min(w) {
            let dx = (x as f32 + 0.5 - cx) / rx;
            let dy = (y as f32 + 0.5 - cy) / ry;
            if dx * dx + dy * dy <= 1.0 {
                img.put_pixel(x as u32, y as u32, Rgb(c));
            }
        }
    }
}

/// Draws a concept into the square (x, y, size) of `img`.
fn draw_concept(img: &mut RgbImage, s: &ConceptSpec, x: i32, y: i32, size: i32) {
    let f = |v: f32| v * size as f32;
    let (xf, yf) = (x as f32, y as f32);
    match s.kind {
        Human => {
            // Body, head, hair.
            fill_rect(
                img,
                x + size * 3 / 10,
                y + size / 2,
                x + size * 7 / 10,
                y + size * 19 / 20,
                s.main,
            );
            fill_ellipse(
                img,
                xf + f(0.5),
                yf + f(0.33),
                f(0.17),
                f(0.19),
                [235, 195, 160],
            );
            fill_rect(
                img,
                x + size * 33 / 100,
                y + size * 12 / 100,
                x + size * 67 / 100,
                y + size * 22 / 100,
                s.accent,
            );
        }
        Pet => {
            fill_ellipse(img, xf + f(0.5), yf + f(0.65), f(0.32), f(0.2), s.main);
            fill_ellipse(img, xf + f(0.28), yf + f(0.4), f(0.16), f(0.15), s.main);
            fill_ellipse(img, xf + f(0.2), yf + f(0.26), f(0.06), f(0.09), s.accent);
            fill_ellipse(img, xf + f(0.36), yf + f(0.26), f(0.06), f(0.09), s.accent);
            fill_rect(
                img,
                x + size * 80 / 100,
                y + size * 45 / 100,
                x + size * 86 / 100,
                y + size * 65 / 100,
                s.accent,
            );
        }
        Object => {
            fill_rect(
                img,
                x + size / 4,
                y + size / 4,
                x + size * 3 / 4,
                y + size * 17 / 20,
                s.main,
            );
            fill_ellipse(img, xf + f(0.8), yf + f(0.55), f(0.1), f(0.16), s.accent);
            fill_rect(
                img,
                x + size / 4,
                y + size / 5,
                x + size * 3 / 4,
                y + size * 3 / 10,
                s.accent,
            );
        }
    }
}

fn concept_image(s: &ConceptSpec, background: [u8; 3]) -> RgbImage {
    let mut img = RgbImage::from_pixel(96, 96, Rgb(background));
    draw_concept(&mut img, s, 0, 0, 96);
    img
}

/// A 48-dimensional appearance vector (mean colour of a 4×4 grid, centred): what a CLIP
/// embedding is to the released pipeline, in miniature.
fn appearance(img: &RgbImage) -> Vec<f32> {
    let (w, h) = (img.width(), img.height());
    let mut v = vec![0f32; 48];
    for gy in 0..4 {
        for gx in 0..4 {
            let mut sum = [0f32; 3];
            let mut n = 0f32;
            for y in gy * h / 4..(gy + 1) * h / 4 {
                for x in gx * w / 4..(gx + 1) * w / 4 {
                    let p = img.get_pixel(x, y).0;
                    for c in 0..3 {
                        sum[c] += p[c] as f32;
                    }
                    n += 1.0;
                }
            }
            for c in 0..3 {
                v[((gy * 4 + gx) * 3) as usize + c] = sum[c] / n - 127.5;
            }
        }
    }
    v
}

fn save_png(img: &RgbImage, path: &Path) -> Result<(), DataError> {
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .map_err(|e| DataError::Other(format!("{}: cannot encode PNG: {e}", path.display())))?;
    crate::io::write_atomic(path, &bytes)
}

fn concept_dialogue(s: &ConceptSpec) -> Dialogue {
    let what = match s.kind {
        Human => "my friend",
        Pet => "our pet",
        Object => "my favourite thing",
    };
    let mut d = Dialogue::alternating(&[
        format!(
            "This is {}, {what}. The picture is from {} on {}.",
            s.name, s.place, s.date
        ),
        format!(
            "What a lovely picture of {}! What was the occasion at {}?",
            s.name, s.place
        ),
        format!(
            "It was {}. {} still talks about it whenever we pass by.",
            s.event, s.name
        ),
        format!(
            "It sounds like {} made that day special. Did anything funny happen?",
            s.event
        ),
        format!(
            "Only that it started to drizzle right when we got to {}.",
            s.place
        ),
        format!(
            "I'll remember that {} was at {} on {} for {}.",
            s.name, s.place, s.date, s.event
        ),
    ]);
    d.date = None;
    d.place = Some(s.place.to_string());
    d
}

fn make_qa(id: &str, question: String, truth: &str, pool: &[&str], rng: &mut SeededRng) -> Qa {
    let mut wrong: Vec<&str> = pool.iter().copied().filter(|p| *p != truth).collect();
    rng.shuffle(&mut wrong);
    let mut abc = [truth, wrong[0], wrong[1]];
    rng.shuffle(&mut abc);
    let correct = [Letter::A, Letter::B, Letter::C]
        [abc.iter().position(|a| *a == truth).expect("truth placed")];
    Qa::new(id, question, abc, CANNOT_DETERMINE, correct)
}

fn concept_qas(s: &ConceptSpec, rng: &mut SeededRng) -> Vec<Qa> {
    vec![
        make_qa(
            "Q1",
            format!("Where was the picture of {} taken?", s.name),
            s.place,
            OTHER_PLACES,
            rng,
        ),
        make_qa(
            "Q2",
            format!("When was the user at {} with {}?", s.place, s.name),
            s.date,
            OTHER_DATES,
            rng,
        ),
        make_qa(
            "Q3",
            format!("What was the occasion of the visit with {}?", s.name),
            s.event,
            OTHER_EVENTS,
            rng,
        ),
    ]
}

struct PersonSpec {
    name: &'static str,
    shirt: [u8; 3],
    hair: [u8; 3],
}

const PEOPLE: &[PersonSpec] = &[
    PersonSpec {
        name: "Hana",
        shirt: [210, 40, 40],
        hair: [20, 20, 20],
    },
    PersonSpec {
        name: "Diego",
        shirt: [40, 120, 210],
        hair: [90, 50, 20],
    },
    PersonSpec {
        name: "Sofia",
        shirt: [40, 170, 80],
        hair: [230, 190, 80],
    },
    PersonSpec {
        name: "Kwame",
        shirt: [230, 140, 30],
        hair: [10, 10, 10],
    },
    PersonSpec {
        name: "Lena",
        shirt: [150, 60, 180],
        hair: [150, 80, 40],
    },
    PersonSpec {
        name: "Arjun",
        shirt: [30, 160, 160],
        hair: [30, 20, 20],
    },
    PersonSpec {
        name: "Yuki",
        shirt: [240, 120, 160],
        hair: [60, 40, 30],
    },
    PersonSpec {
        name: "Marek",
        shirt: [110, 110, 110],
        hair: [200, 170, 120],
    },
];

const DIAG_PLACES: &[&str] = &[
    "the Riverside Cafe",
    "Gwangalli Beach",
    "the north gate of the zoo",
    "Platform 4 of Central Station",
    "the Saturday farmers market",
    "the hospital cafeteria",
    "the climbing gym on 5th Avenue",
    "the botanical garden greenhouse",
];

fn person_dialogues(p: &PersonSpec, pi: usize) -> Vec<Dialogue> {
    (0..4)
        .map(|k| {
            let place = DIAG_PLACES[(pi + 3 * k) % DIAG_PLACES.len()];
            let date = format!("2024-{:02}-{:02}", 2 + 3 * k, 5 + pi);
            let mut d = Dialogue::alternating(&[
                format!("I ran into {} at {place} on {date}.", p.name),
                format!("How was {} doing at {place}?", p.name),
                format!(
                    "{} was in a great mood and told me about a new project.",
                    p.name
                ),
                "That must have been a nice surprise. Did you talk for long?".to_string(),
                "About half an hour, then we both had to go.".to_string(),
                format!("Good to know {} is doing well.", p.name),
            ]);
            d.date = Some(date);
            d.place = Some(place.to_string());
            d
        })
        .collect()
}

/// What `write_sample_set` wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampleSetReport {
    pub files: Vec<PathBuf>,
}

/// Writes the sample set under `out` (paths inside the files are relative to their file).
pub fn write_sample_set(out: &Path) -> Result<SampleSetReport, DataError> {
    let mut files = Vec::new();
    let mut rng = SeededRng::new(20_260_203);
    // Concepts: one picture each, on a plain background.
    let mut entries = Vec::new();
    let mut rows = Vec::new();
    for (i, s) in CONCEPTS.iter().enumerate() {
        let img = concept_image(s, [245, 245, 240]);
        let rel = format!(
            "images/concepts/{:02}_{}.png",
            i,
            s.name.to_lowercase().replace(' ', "_")
        );
        save_png(&img, &out.join(&rel))?;
        files.push(out.join(&rel));
        rows.extend(appearance(&img));
        entries.push(BankEntry {
            concept: Concept {
                id: format!("concept_{i:02}"),
                image: ImageRef::path(format!("../{rel}")),
                kind: s.kind,
                name: s.name.to_string(),
            },
            dialogue: concept_dialogue(s).render(),
            qas: concept_qas(s, &mut rng),
        });
    }
    let bank = ConceptBank {
        entries,
        embeddings: Array2::from_shape_vec((CONCEPTS.len(), 48), rows)
            .expect("48 values per concept"),
    };
    // Query scenes with 1..4 concepts in a 2×2 layout.
    let plans: &[(&str, &[usize], usize)] = &[
        ("q0", &[0], 1),
        ("q1", &[5, 2], 1),
        ("q2", &[1, 6, 10], 0),
        ("q3", &[3, 7, 9, 4], 3),
        ("q4", &[8], 2),
        ("q5", &[11, 0], 0),
        ("q6", &[2, 5, 6], 2),
        ("q7", &[4, 1, 8, 11], 1),
    ];
    let mut samples = Vec::new();
    for (qi, (name, positives, scene)) in plans.iter().enumerate() {
        let mut img = RgbImage::from_pixel(160, 160, Rgb(SCENES[*scene].1));
        for (k, &c) in positives.iter().enumerate() {
            let (x, y) = ((k % 2) as i32 * 80, (k / 2) as i32 * 80);
            draw_concept(&mut img, &CONCEPTS[c], x, y, 80);
        }
        let rel = format!(
            "images/queries/{name}_{}.png",
            SCENES[*scene].0.replace(' ', "_")
        );
        save_png(&img, &out.join(&rel))?;
        files.push(out.join(&rel));
        let cfg = AssemblyConfig {
            negatives_per_positive: 2,
            seed: 1000 + qi as u64,
        };
        samples.push(assemble(
            &bank,
            *name,
            positives,
            ImageRef::path(format!("../{rel}")),
            TaskKind::Caption,
            cfg,
        )?);
    }
    // Test set: the first four samples (1, 2, 3 and 4 present concepts).
    let test: Vec<Sample> = samples[..4].to_vec();
    write_test_set(
        &out.join("test/meta.jsonl"),
        &out.join("test/qas_gt.json"),
        &test,
    )?;
    files.push(out.join("test/meta.jsonl"));
    files.push(out.join("test/qas_gt.json"));
    // Training list: captions and recognition for the other four, plus two consistency pairs.
    let unrel = |s: &Sample| -> Sample {
        // Training lists sit at the root: paths drop the leading `../`.
        let fix = |r: &ImageRef| match r {
            ImageRef::Path(p) => ImageRef::path(p.strip_prefix("..").unwrap_or(p)),
            other => other.clone(),
        };
        Sample {
            context: s
                .context
                .iter()
                .map(|c| ContextEntry {
                    image: fix(&c.image),
                    dialogue: c.dialogue.clone(),
                })
                .collect(),
            query: fix(&s.query),
            ..s.clone()
        }
    };
    let mut train = Vec::new();
    for s in &samples[4..] {
        train.push(TrainRecord::from_sample(&unrel(s)).map_err(DataError::Other)?);
        let mut rec = unrel(s);
        rec.task = TaskKind::MultiVision;
        rec.qas = Vec::new();
        train.push(TrainRecord::from_sample(&rec).map_err(DataError::Other)?);
    }
    for (first, second, yes) in [(0usize, 0usize, true), (5, 1, false)] {
        let s = Sample {
            id: String::new(),
            context: vec![ContextEntry {
                image: ImageRef::path(format!(
                    "images/concepts/{:02}_{}.png",
                    first,
                    CONCEPTS[first].name.to_lowercase().replace(' ', "_")
                )),
                dialogue: String::new(),
            }],
            query: unrel(&samples[second]).query,
            gold: Vec::new(),
            qas: Vec::new(),
            task: TaskKind::Vision,
            yes_no: Some(yes),
        };
        train.push(TrainRecord::from_sample(&s).map_err(DataError::Other)?);
    }
    write_train(&out.join("train.jsonl"), &train)?;
    files.push(out.join("train.jsonl"));
    // Diagnostic sets from a pool of eight people with four pictures each.
    let mut pool = Vec::new();
    for (pi, p) in PEOPLE.iter().enumerate() {
        let mut images = Vec::new();
        for k in 0..4 {
            let bg = SCENES[(pi + k) % SCENES.len()].1;
            let spec = ConceptSpec {
                name: p.name,
                kind: Human,
                main: p.shirt,
                accent: p.hair,
                place: "",
                date: "",
                event: "",
            };
            let mut img = RgbImage::from_pixel(96, 96, Rgb(bg));
            let size = 70 + 8 * k as i32;
            draw_concept(
                &mut img,
                &spec,
                (96 - size) / 2 + (k as i32 - 1) * 4,
                96 - size,
                size,
            );
            let rel = format!("images/people/{}_{k}.png", p.name.to_lowercase());
            save_png(&img, &out.join(&rel))?;
            files.push(out.join(&rel));
            images.push(ImageRef::path(format!("../{rel}")));
        }
        pool.push(Person {
            id: p.name.to_lowercase(),
            name: p.name.to_string(),
            images,
            dialogues: person_dialogues(p, pi),
        });
    }
    let cfg = DiagnosticConfig {
        contexts_per_person: 1,
        seed: 7,
        ..Default::default()
    };
    for kind in DiagnosticKind::ALL {
        let set = build_diagnostic_set(&pool, kind, &cfg)?;
        let path = out.join(format!("diagnostics/{}.jsonl", kind.as_str()));
        write_downstream_json(&path, &set, &out.join("diagnostics/images"))?;
        files.push(path);
        if kind == DiagnosticKind::Lsd {
            // The same set as Parquet with the images embedded, as Hugging Face publishes it.
            let embedded = set
                .iter()
                .map(|s| -> Result<_, DataError> {
                    let embed = |r: &ImageRef| -> Result<ImageRef, DataError> {
                        let resolved = r.resolved(&out.join("diagnostics"));
                        Ok(ImageRef::Embedded {
                            bytes: resolved.read_bytes()?,
                            path: r
                                .name()
                                .and_then(|n| Path::new(n).file_name())
                                .map(|n| n.to_string_lossy().into_owned()),
                        })
                    };
                    Ok(crate::diagnostics::DiagnosticSample {
                        context: s
                            .context
                            .iter()
                            .map(|c| {
                                Ok(ContextEntry {
                                    image: embed(&c.image)?,
                                    dialogue: c.dialogue.clone(),
                                })
                            })
                            .collect::<Result<_, DataError>>()?,
                        query: embed(&s.query)?,
                        ..s.clone()
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let ppath = out.join("diagnostics/lsd_embedded.parquet");
            write_downstream_parquet(&ppath, &embedded)?;
            files.push(ppath);
        }
    }
    Ok(SampleSetReport { files })
}
