"""The words of the synthetic archive: function words, ISSCR domain terms, general English and
a pseudo-word tail, ranked and weighted by one Zipf-Mandelbrot distribution."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

# By English frequency, roughly; never picked as a word a member remembers.
FUNCTION_WORDS = (
    "the of and to in a for is on that with as by at from this be are was its it an or has "
    "have will which their more not also we our all been can these than other about into who "
    "they were would such may between through during over both under while each how must "
    "should could those after before among within without however therefore although because "
    "since until where when what why whether if so but then there here now just very much "
    "only even well still again already any some most his her he she them us i you your do "
    "does did had being per via upon against toward"
).split()

# One term a line-item; multi-word terms are drawn as one, like the collocations they are.
DOMAIN_TERMS = [
    term.strip()
    for term in """stem cell | ISSCR | stem cells | embryo | research | embryo models |
    organoids | guidelines | patients | clinical trial | iPSC | regulators | NIH | FDA | MHRA |
    gene editing | embryos | embryonic | organoid | iPSCs | induced pluripotent | pluripotent |
    pluripotency | regulatory | regulation | EMA | PMDA | Health Canada | clinical trials |
    genome editing | CRISPR | germline | somatic | cell therapy | cell therapies | gene therapy |
    therapeutic | clinical translation | translational | researchers | scientists | science |
    scientific | ethics | ethical | ethicists | bioethics | oversight | informed consent |
    donors | donor | tissue | tissues | transplantation | mitochondrial | chimeras |
    in vitro gametogenesis | gametogenesis | gametes | oocytes | sperm | blastocyst |
    blastoids | gastruloids | gastrulation | differentiation | reprogramming | hematopoietic |
    mesenchymal | neural | cardiac | retinal | pancreatic | islet | beta cells | hepatocytes |
    cardiomyocytes | neurons | progenitor | lineage | fibroblasts | xenotransplantation |
    biobank | cord blood | bone marrow | Parkinson's | diabetes | macular degeneration | ALS |
    spinal cord | cancer | leukemia | CAR-T | immunotherapy | viral vector | AAV |
    manufacturing | GMP | potency | safety | efficacy | patient | patient advocates |
    advocacy | unproven | interventions | clinics | stem cell tourism | marketing |
    misinformation | compassionate use | right to try | access | approval |
    market authorization | licensing | reimbursement | funding | federal funding | grant |
    grants | appropriations | Congress | Senate | legislation | bill | directive | policy |
    statement | letter | coalition | consultation | public comment | draft guidance |
    framework | standards | reference materials | characterization | genomic | sequencing |
    single-cell | transcriptomics | epigenetic | regeneration | regenerative medicine |
    annual meeting | symposium | workshop | webinar | education | outreach | trainees |
    early-career | fellowship | award | prize | Stem Cell Reports | journal | publication |
    peer review | reproducibility | research integrity | transparency | data sharing |
    open science | registration | registry | animal models | mouse | primate |
    nonhuman primates | in vivo | 14-day rule | heritable | mosaicism | off-target |
    base editing | prime editing | delivery | nanoparticles | immunogenicity | tumorigenicity |
    engraftment | allogeneic | autologous | HLA | cryopreservation | quality control |
    biomanufacturing | bioreactor | scale-up | commercialization | industry | biotechnology |
    investors | startup | intellectual property | patents | fetal tissue | human embryos |
    embryo research | IVF | assisted reproduction | infertility | mitochondrial replacement |
    cloning | SCNT | totipotent | trophoblast | placenta | microglia | organ-on-chip |
    disease modeling | drug discovery | toxicology | screening | preclinical | phase 1 |
    first-in-human | dosing | adverse events | long-term follow-up | outcomes | endpoints |
    randomized | placebo | sham surgery | vulnerable | equity | diversity | inclusion |
    access to therapies | global health | low- and middle-income countries |
    capacity building | ethics review | institutional review | IRB | EMRO committee | SCRO |
    oversight committees | public engagement | communication | media | journalists | hype |
    expectations | trust | task force | working group | steering committee |
    board of directors | president-elect | past president | CEO | membership | members |
    society | international | global | policy committee | government affairs | advocacy day |
    Capitol Hill | testimony | hearing | warning letter | enforcement |
    Federal Trade Commission | FTC | consumer protection | fraud | litigation | ruling |
    Supreme Court | Dickey-Wicker | NIH budget | Cures Act | 21st Century Cures | RMAT |
    breakthrough designation | accelerated approval | conditional approval | Japan | Europe |
    European Commission | Horizon Europe | UK | United Kingdom | HFEA | Australia | TGA |
    China | NMPA | India | Canada | CIHR | CIRM | California | Massachusetts | Boston | Tokyo |
    Kyoto | Hamburg | Melbourne | Montréal | Singapore | Toronto | San Francisco | Barcelona |
    Stockholm | Hong Kong | Los Angeles | Cambridge | Basel""".split("|")
]

GENERAL_WORDS = (
    "year years new world people field work support announced today week month months "
    "president chief executive officer board committee group report reports release press "
    "news update updates important step progress future including across national countries "
    "country governments government agencies agency organizations organization institutions "
    "university universities hospital hospitals center leaders leadership experts partners "
    "partnership collaboration program programs project initiative initiatives efforts "
    "recommendations principles responsible responsibility rigorous evidence results findings "
    "study studies review analysis approach process role impact benefit benefits risk risks "
    "harm concerns questions issues need needs continue continues urge urges calls welcomes "
    "supports opposes response responds proposed proposal rule rules changes current recent "
    "first second several many time history plans strategy goals commitment committed open "
    "fair safe effective available information resources website online virtual event events "
    "session sessions speakers keynote deadline submissions abstracts share shared sharing "
    "help helps ensure ensuring develop development developing advance advances advancing "
    "improve improving provide provides based used use using make made includes include said "
    "says noted added believe critical significant strong clear public private long-term "
    "short high low large small number part area areas level levels case cases example way "
    "ways point fact form order life lives health care healthcare medical medicine doctors "
    "physicians nurses families children adults women men communities students teachers "
    "schools training career careers jobs economy economic cost costs price market markets "
    "business companies company investment growth technology technologies innovation "
    "innovative tools platform systems system network networks model models data record "
    "records quality value values standard requirements law laws legal court decision "
    "decisions vote votes election office officials staff team teams director directors "
    "chair co-chair member meeting meetings conference forum panel discussion dialogue debate "
    "letters signed sign join joined joins launch launches launched celebrate celebrates "
    "honor honors recognize recognizes recognition congratulate thanks grateful pleased proud "
    "excited delighted concerned disappointed encouraged strongly fully widely closely "
    "directly recently currently together annual monthly weekly daily early late latest next "
    "last final full complete entire whole major key main primary central core basic "
    "essential necessary possible likely unlikely potential promising emerging novel unique "
    "specific general common broad wide deep close direct indirect"
).split()

TAIL_WORDS = 20_000
# With 1.2, function words are ~48% of a body's words (as in English prose), tail words ~19%.
ZIPF_EXPONENT = 1.2
_ONSETS = "b c d f g h j k l m n p r s t v w z br cr dr fr gr pr tr st sp ch sh th pl cl bl".split()
_VOWELS = "a e i o u ai ea io ou y".split()
_CODAS = ["", "", "", "n", "r", "s", "l", "m", "t", "x", "nd", "st", "rt"]


@dataclass(frozen=True)
class Vocabulary:
    """Every term by rank, with cumulative Zipf weights for all terms and for content only."""

    terms: list[str]
    cumulative: list[float]
    content: list[str]
    content_cumulative: list[float]


def vocabulary(seed: int) -> Vocabulary:
    """Function words lead, then alternate with content terms (domain and general English
    interleaved), then the pseudo-word tail; weight 1/(rank + 2.7)^1.2. Titles draw content
    terms only, tail words at half weight: a title names the subject in the field's words."""
    rng = random.Random(seed)
    tail: list[str] = []
    seen: set[str] = set()
    while len(tail) < TAIL_WORDS:
        word = "".join(
            rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)
            for _ in range(rng.choice((2, 2, 3, 3, 4)))
        )
        if word not in seen:
            seen.add(word)
            tail.append(word)
    content = [t for pair in itertools.zip_longest(DOMAIN_TERMS, GENERAL_WORDS) for t in pair if t]
    ranked = FUNCTION_WORDS[:8]
    for function_word, term in zip(FUNCTION_WORDS[8:], content, strict=False):
        ranked += [function_word, term]
    ranked += content[len(FUNCTION_WORDS) - 8 :] + tail
    ranked = list(dict.fromkeys(ranked))  # a word listed twice keeps its first rank
    weights = [1 / (rank + 2.7) ** ZIPF_EXPONENT for rank in range(1, len(ranked) + 1)]
    stop, tail_start = set(FUNCTION_WORDS), len(ranked) - len(tail)
    content_pairs = [
        (term, weight if rank < tail_start else weight / 2)
        for rank, (term, weight) in enumerate(zip(ranked, weights, strict=True))
        if term not in stop
    ]
    return Vocabulary(
        ranked,
        list(itertools.accumulate(weights)),
        [t for t, _ in content_pairs],
        list(itertools.accumulate(w for _, w in content_pairs)),
    )
