//! Directive 05/CT-BTTTT must import to the same tree, assignments and unit document
//! headers whatever the catalogue grows into: servers and phones hold documents whose
//! signatures cover these headers' fingerprints. The figures below were computed from the
//! catalogue of 123 units, before the catalogue for the whole government was added.

use sha2::{Digest, Sha256};
use taskforce_core::directive::{Catalogue, Clause, Directive, SEED_DIRECTIVE, import};
use taskforce_core::doc::DocHeader;

fn seed(catalogue: &Catalogue) -> Directive {
    import(SEED_DIRECTIVE.as_bytes(), catalogue, None).unwrap_or_else(|e| panic!("seed: {e}"))
}

/// The tree with its assignments as one string: id, kind, heading, text and units of every
/// clause, depth first. Fields other engineers may add to `Directive` do not enter it.
fn tree(d: &Directive) -> String {
    fn visit(c: &Clause, out: &mut String) {
        out.push_str(&format!(
            "{}|{:?}|{:?}|{}|",
            c.id, c.kind, c.heading, c.text
        ));
        for a in &c.units {
            out.push_str(&format!("{}:{}:{:?};", a.unit, a.name, a.role));
        }
        out.push('\n');
        for ch in &c.children {
            visit(ch, out);
        }
    }
    let mut out = String::new();
    for c in &d.clauses {
        visit(c, &mut out);
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of [`tree`] for the catalogue of 123 units.
const TREE: &str = "7323f162e2774bdfd1018766051fc5e2b3989d6ec32876748c8fd5fd5d0cde30";

/// (unit, tasks, header fingerprint) of every unit the directive gives tasks to.
const HEADERS: &[(&str, usize, u64)] = &[
    ("so-tttt", 11, 0x168396a495c2394f),
    ("carriers", 9, 0x1a032efef7ff7dbb),
    ("postal", 2, 0x539757b935115f2c),
    ("platforms", 5, 0x28179a42316cf289),
    ("digital-tech", 7, 0xf57bed01b5c603f6),
    ("ministry-units", 2, 0x3102af146981e4ea),
    ("vp-bo", 5, 0xdfdb14723abd3973),
    ("thanh-tra", 2, 0x95fbecd0af9b14e8),
    ("vu-buu-chinh", 4, 0xea9f0d09cdaf6561),
    ("vu-cntt", 6, 0x0951bf18365e8f49),
    ("vu-khcn", 2, 0x484e5fd87c691990),
    ("vu-htqt", 2, 0x791cab5a087895c8),
    ("vu-phap-che", 2, 0xe6de0b7f2da8890e),
    ("vu-khtc", 2, 0xe9ac41e634b73827),
    ("vu-tccb", 2, 0x8ac0c091cc24eb62),
    ("cuc-vt", 8, 0xab575819952064f2),
    ("cuc-bdtw", 3, 0x10bc2da811682366),
    ("cuc-attt", 12, 0x9f6bbbb183ee3f16),
    ("cuc-bao-chi", 13, 0xea583d5a38117a8f),
    ("cuc-ptth", 16, 0x225293fd386a2c5f),
    ("cuc-ttcs", 7, 0xc4ca3c54d7b68dad),
    ("cuc-ttdn", 9, 0xd09d0da133bce389),
    ("cuc-xbin", 2, 0xd2959ffb78dfd309),
    ("cuc-tan-so", 2, 0xe08b595ad5b88673),
    ("cuc-thh", 2, 0xf6680fb5c3f5b887),
    ("to-cong-tac", 6, 0x4a88192149d204ea),
    ("staff", 2, 0x6f7eac192afb8ca8),
    ("viettel", 9, 0x182ac7da5cd1be23),
    ("vnpt-vinaphone", 9, 0x0ee9aea46815ad5f),
    ("mobifone", 9, 0x3f5f89d70f8be31d),
    ("vietnamobile", 9, 0xe8ffc92ee37b7581),
    ("gmobile", 9, 0xfd1db060af654426),
    ("itelecom", 9, 0xa4d504b510df722b),
    ("vnpost", 3, 0xb2c592dab2ce767e),
    ("viettel-post", 2, 0x0ca5b4d18cb238a5),
    ("ems", 2, 0x7c5836b4079a95e1),
    ("ghn", 2, 0x5ca129d345e3ad9f),
    ("ghtk", 2, 0x154f85f0e4eba67b),
    ("zalo", 5, 0x65e95e9aeef42872),
    ("lotus", 5, 0x85d36a351340007f),
    ("coccoc", 5, 0x15cc57f578376aaf),
    ("gapo", 5, 0x28cd248b6a7b9189),
    ("be", 5, 0xed3d85718c86ea3c),
    ("mocha", 5, 0x652110f75019b242),
    ("fastgo", 5, 0x7d70f56df7cbba03),
    ("facebook", 8, 0x772275eb60724df0),
    ("google", 8, 0x6f640779d62de00f),
    ("grab", 5, 0x9ebd3cd2cae200a5),
    ("fpt", 7, 0xbfe134a706206f1a),
    ("vng", 7, 0x64c94495cb6c45e2),
    ("cmc", 7, 0xa69e43702a02daaa),
    ("bkav", 7, 0x7fe4840a3b30a13f),
    ("misa", 7, 0x4ba74693e451d3d5),
    ("so-tttt-an-giang", 11, 0xd756400cc8c72e43),
    ("so-tttt-ba-ria-vung-tau", 11, 0x233bfc24628b1a47),
    ("so-tttt-bac-giang", 11, 0x0a897bc268ec4a3c),
    ("so-tttt-bac-kan", 11, 0x94556c99acdac82d),
    ("so-tttt-bac-lieu", 11, 0xc03b6b16c48947ad),
    ("so-tttt-bac-ninh", 11, 0x8be21084a9330fa7),
    ("so-tttt-ben-tre", 11, 0x5261304deaf3abe9),
    ("so-tttt-binh-dinh", 11, 0x48eba36f0c6994a5),
    ("so-tttt-binh-duong", 11, 0x2aec20cd76f85536),
    ("so-tttt-binh-phuoc", 11, 0x2dc5185e6a362c4f),
    ("so-tttt-binh-thuan", 11, 0x930468354e4ce9be),
    ("so-tttt-ca-mau", 11, 0x86521bc3be6f0de9),
    ("so-tttt-can-tho", 11, 0x16922509cbf51fb4),
    ("so-tttt-cao-bang", 11, 0x178e19489e9ea00c),
    ("so-tttt-da-nang", 11, 0xc930205d3a7b956e),
    ("so-tttt-dak-lak", 11, 0xee0b2d720f8114cf),
    ("so-tttt-dak-nong", 11, 0x6e0d8315114744bf),
    ("so-tttt-dien-bien", 11, 0xcac194a7f2e45238),
    ("so-tttt-dong-nai", 11, 0x3eb7d594139a11ca),
    ("so-tttt-dong-thap", 11, 0xf7ebf6ff042cff7b),
    ("so-tttt-gia-lai", 11, 0x00ee37d54d94f357),
    ("so-tttt-ha-giang", 11, 0xba5a597fc6d2b248),
    ("so-tttt-ha-nam", 11, 0x3659b8deed073c68),
    ("so-tttt-ha-noi", 11, 0x4245b67df0fbf7f2),
    ("so-tttt-ha-tinh", 11, 0x077992da2ba2c8c3),
    ("so-tttt-hai-duong", 11, 0x7ade676b6d364a43),
    ("so-tttt-hai-phong", 11, 0x2173cf22e0fda9f6),
    ("so-tttt-hau-giang", 11, 0xafafdee92c3c0480),
    ("so-tttt-hoa-binh", 11, 0x943124407239b213),
    ("so-tttt-hung-yen", 11, 0xf2fc7b0f091351c2),
    ("so-tttt-khanh-hoa", 11, 0x7c0e1933816ff455),
    ("so-tttt-kien-giang", 11, 0xe42b1fcf74cc10f3),
    ("so-tttt-kon-tum", 11, 0x741a8a7107837ce7),
    ("so-tttt-lai-chau", 11, 0x038b348ba7ea0629),
    ("so-tttt-lam-dong", 11, 0x111fce83ce966d71),
    ("so-tttt-lang-son", 11, 0x5994c33f436a9939),
    ("so-tttt-lao-cai", 11, 0x1d134184d4483850),
    ("so-tttt-long-an", 11, 0x3ff7295eb3d74118),
    ("so-tttt-nam-dinh", 11, 0xa18a440e9027e0ed),
    ("so-tttt-nghe-an", 11, 0x9528172667633293),
    ("so-tttt-ninh-binh", 11, 0x802ea8beb3808d0a),
    ("so-tttt-ninh-thuan", 11, 0xfc443da9a542d513),
    ("so-tttt-phu-tho", 11, 0x91d583caaf8dcf5d),
    ("so-tttt-phu-yen", 11, 0x19b34db91028fe8e),
    ("so-tttt-quang-binh", 11, 0x80d28ceb4a523115),
    ("so-tttt-quang-nam", 11, 0xda2311380443f6e9),
    ("so-tttt-quang-ngai", 11, 0xb70c9a8eebc67103),
    ("so-tttt-quang-ninh", 11, 0x5e00916e60e3e559),
    ("so-tttt-quang-tri", 11, 0xcc541e3dcb1f9d24),
    ("so-tttt-soc-trang", 11, 0x9fab57ae126844a0),
    ("so-tttt-son-la", 11, 0xf19910aac251ffa3),
    ("so-tttt-tay-ninh", 11, 0x89e0a0866b72953c),
    ("so-tttt-thai-binh", 11, 0xebbbc58d3eb71490),
    ("so-tttt-thai-nguyen", 11, 0x550bcad34fdb579f),
    ("so-tttt-thanh-hoa", 11, 0xc82bc159fa0353e3),
    ("so-tttt-thua-thien-hue", 11, 0xc4e814a585f073e5),
    ("so-tttt-tien-giang", 11, 0x608a80b257209ae0),
    ("so-tttt-hcm", 11, 0x25ddbe4642736ccb),
    ("so-tttt-tra-vinh", 11, 0x59e222ace3cbca5b),
    ("so-tttt-tuyen-quang", 11, 0x1bda545dd3ee1ecf),
    ("so-tttt-vinh-long", 11, 0x428445e31595ce68),
    ("so-tttt-vinh-phuc", 11, 0xece611473cf3fd23),
    ("so-tttt-yen-bai", 11, 0x71544c581f641032),
];

#[test]
fn the_seed_directive_imports_to_the_same_tree_and_assignments() {
    let catalogue = Catalogue::bundled().unwrap_or_else(|e| panic!("{e}"));
    let d = seed(&catalogue);
    assert_eq!(
        hex(&Sha256::digest(tree(&d).as_bytes())),
        TREE,
        "{}",
        tree(&d)
    );
}

#[test]
fn the_seed_directive_gives_every_unit_the_same_document_header() {
    let catalogue = Catalogue::bundled().unwrap_or_else(|e| panic!("{e}"));
    let d = seed(&catalogue);
    for (unit, tasks, fingerprint) in HEADERS {
        assert!(catalogue.get(unit).is_some(), "{unit} left the catalogue");
        let h = DocHeader::for_unit(&d, &catalogue, unit);
        assert_eq!(h.tasks.len(), *tasks, "{unit}: {h:?}");
        assert_eq!(h.fingerprint(), *fingerprint, "{unit}: {h:?}");
    }
    let locked: Vec<&str> = HEADERS.iter().map(|(u, _, _)| *u).collect();
    for u in catalogue.units() {
        if !locked.contains(&u.id.as_str()) {
            let h = DocHeader::for_unit(&d, &catalogue, &u.id);
            assert!(h.tasks.is_empty(), "{} now has tasks: {h:?}", u.id);
        }
    }
}
