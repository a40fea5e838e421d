
/*
 * Copyright (C) The tier router authors
 *
 * The request classifier.  One bounded pass over the latest user turn
 * (at most TR_TEXT_LEN bytes) and one over the system
 * text (at most TR_SYSTEM_LEN bytes): words are
 * lowercased, hashed and looked up in one index over two tables
 * (keywords by category, and the instruction verbs that open a sentence);
 * the counts, the size
 * of the text and the request's own parameters are summed into a
 * difficulty logit, squashed to [0,1].
 *
 * No allocation, no libm (the module must load into a stock nginx that
 * does not link it), no nginx includes.
 */


#include <stdint.h>
#include <string.h>
#include "tr_classify.h"


/* keyword categories: counted anywhere in the text */

#define TR_C_CODE        0
#define TR_C_SYSTEM      1
#define TR_C_DEBUG       2
#define TR_C_LEGAL       3
#define TR_C_ETHICS      4
#define TR_C_PROOF       5
#define TR_C_MATH        6
#define TR_C_QUANT       7
#define TR_C_NUMWORD     8
#define TR_C_ANALYSIS    9
#define TR_C_SYNTH       10
#define TR_C_CREATIVE    11
#define TR_C_LONGOUT     12
#define TR_C_BRIEF       13
#define TR_C_FIXED       14
#define TR_C_MED         15
#define TR_C_FILLER      16
#define TR_C_PART        17
#define TR_NCATS         18
#define TR_CATS          ((1u << TR_NCATS) - 1)

/* cues counted only for the learned scorer, outside the categories */

#define TR_K_NEGATION    (1u << 18)     /* not, except, least */
#define TR_K_STEP        (1u << 19)     /* if, each, total, percent, ... */

#define TR_K_CODE        (1u << TR_C_CODE)
#define TR_K_SYSTEM      (1u << TR_C_SYSTEM)
#define TR_K_DEBUG       (1u << TR_C_DEBUG)
#define TR_K_LEGAL       (1u << TR_C_LEGAL)
#define TR_K_ETHICS      (1u << TR_C_ETHICS)
#define TR_K_PROOF       (1u << TR_C_PROOF)
#define TR_K_MATH        (1u << TR_C_MATH)
#define TR_K_QUANT       (1u << TR_C_QUANT)
#define TR_K_NUMWORD     (1u << TR_C_NUMWORD)
#define TR_K_ANALYSIS    (1u << TR_C_ANALYSIS)
#define TR_K_SYNTH       (1u << TR_C_SYNTH)
#define TR_K_CREATIVE    (1u << TR_C_CREATIVE)
#define TR_K_LONGOUT     (1u << TR_C_LONGOUT)
#define TR_K_BRIEF       (1u << TR_C_BRIEF)
#define TR_K_FIXED       (1u << TR_C_FIXED)
#define TR_K_MED         (1u << TR_C_MED)
#define TR_K_FILLER      (1u << TR_C_FILLER)
#define TR_K_PART        (1u << TR_C_PART)


/* instruction verbs: counted only where a sentence or line opens */

#define TR_H_NONE        0
#define TR_H_TRANSLATE   1
#define TR_H_CLASSIFY    2
#define TR_H_EXTRACT     3
#define TR_H_FORMAT      4
#define TR_H_LOOKUP      5
#define TR_H_SUMMARY     6
#define TR_H_REWRITE     7
#define TR_H_TEMPLATE    8
#define TR_H_LAST_SIMPLE 8
#define TR_H_PROVE       9
#define TR_H_DESIGN      10
#define TR_H_IMPLEMENT   11
#define TR_H_DEBUG       12
#define TR_H_ANALYZE     13
#define TR_H_SYNTH       14
#define TR_NHEADS        15

#define TR_WORD_LEN      24


typedef struct {
    const char                *word;
    unsigned                   flags;
} tr_keyword_t;


typedef struct {
    const char                *word;
    unsigned                   kind;
} tr_head_t;


/*
 * Both tables, indexed once by a hash of the word: a word that is in
 * neither table, as most are, costs one probe and usually no comparison
 * at all.  A word is read 8 letters at a time into its key, lowercase and
 * zero-padded (tr_word_read); the key is hashed and compared as three
 * integers.  The answer options' sets keep FNV-1a of the letters.
 */

#define TR_HASH_SIZE     1024       /* a power of two, > 3 x the words */
#define TR_FNV_BASIS     2166136261u
#define TR_FNV_PRIME     16777619u
#define TR_KEY_WORDS     3          /* TR_WORD_LEN letters, 8 a word */

/* for the words that open a count or follow "short": not categories */

#define TR_K_WORDS       (1u << 20)     /* word, words */
#define TR_K_PAGES       (1u << 21)     /* page, pages */
#define TR_K_SHORT       (1u << 22)     /* short */

typedef struct {
    uint64_t                   k[TR_KEY_WORDS];
    size_t                     len;
} tr_key_t;

typedef struct {
    const char                *word;       /* NULL: an empty slot */
    tr_key_t                   key;
    unsigned                   flags;      /* keyword categories */
    unsigned                   kind;       /* instruction verb */
} tr_slot_t;


/* the answer options' words, each a 256-bit set of word hashes */

#define TR_OPTIONS       10

typedef struct {
    uint64_t                   set[TR_OPTIONS][4];
    unsigned                   n;
} tr_options_t;


/* what one pass over a text found */

#define TR_S_OPTION      0x01       /* in an answer option's line */
#define TR_S_HEAD        0x02       /* a sentence or line opens */
#define TR_S_PART        0x04       /* after "part", "statement", ... */
#define TR_S_NUM         0x08       /* after a number */
#define TR_S_SHORT       0x10       /* after "short" */

typedef struct {
    unsigned                   words;
    unsigned                   nums;
    unsigned                   nonascii;
    unsigned                   sentences;
    unsigned                   parts;       /* "statement 2", "(b)", "II." */
    unsigned                   items;       /* numbered or bulleted lines */
    unsigned                   choices;     /* lines "A." .. "E." */
    unsigned                   fences;      /* ``` */
    unsigned                   punct;       /* { } ; = < > [ ] */
    unsigned                   long_ask;    /* "2000 words", "5 pages" */
    unsigned                   short_ask;   /* "in 50 words" */
    unsigned                   cat[TR_NCATS];
    unsigned                   head[TR_NHEADS];

    /* only counted, for the learned scorer */
    unsigned                   wbytes;
    unsigned                   digits;
    unsigned                   upper;
    unsigned                   lines;
    unsigned                   commas;
    unsigned                   signs;
    unsigned                   steps;
    unsigned                   negation:1;
    unsigned                   question:1;
    tr_options_t  *options;  /* NULL: not counting */

    /* scanner state, TR_S_*: 0 for most words */
    unsigned                   state;
    unsigned long              num;
} tr_scan_t;


/*
 * The scans of the last system prompts, a worker's own: most traffic
 * sends a few system prompts again and again, and the scan is a pure
 * function of the text.  Direct-mapped by a hash, each entry checked
 * against its whole text.
 */

#define TR_MEMO_SLOTS    8
#define TR_MEMO_TEXT     1024      /* longer texts are scanned each time */

typedef struct {
    uint64_t                   hash;
    size_t                     len;         /* 0: empty */
    tr_scan_t                  scan;
    unsigned char              text[TR_MEMO_TEXT];
} tr_memo_t;

static tr_memo_t  tr_memo[TR_MEMO_SLOTS];


static void tr_scan(const unsigned char *p, size_t len,
    tr_scan_t *s);
static void tr_scan_system(const unsigned char *p, size_t len,
    tr_scan_t *s);
static uint64_t tr_memo_hash(const unsigned char *p, size_t len);
static size_t tr_line(const unsigned char *p, size_t len,
    tr_scan_t *s);
static size_t tr_paren(const unsigned char *p, size_t len);
static double tr_overlap(
    const tr_options_t *o);
static inline size_t tr_word_read(const unsigned char *p,
    const unsigned char *end, tr_key_t *key, unsigned *upper);
static inline uint64_t tr_word_chunk(const unsigned char *p,
    const unsigned char *end);
static void tr_word(const tr_key_t *key, tr_scan_t *s);
static int tr_roman(const tr_key_t *key);
static unsigned tr_fnv(const tr_key_t *key);
static const tr_slot_t *tr_lookup(const tr_key_t *key);
static size_t tr_key_slot(const tr_key_t *key);
static tr_slot_t *tr_insert(
    const char *w);
static double tr_ln(double x);
static double tr_ln1p(unsigned n);
static void tr_reason(tr_verdict_t *v,
    size_t *len, const char *token);


/*
 * kept sorted by strcmp() so that a word is easy to find and never listed
 * twice; t/classify.t checks the order
 */

static const tr_keyword_t  tr_keywords[]
    = {
    { "acute", TR_K_MED }, { "admissible", TR_K_LEGAL },
    { "algebra", TR_K_MATH }, { "algorithm", TR_K_CODE },
    { "algorithms", TR_K_CODE }, { "also", TR_K_FILLER },
    { "analyse", TR_K_ANALYSIS }, { "analysing", TR_K_ANALYSIS },
    { "analysis", TR_K_ANALYSIS }, { "analyze", TR_K_ANALYSIS },
    { "analyzing", TR_K_ANALYSIS }, { "and", TR_K_FILLER },
    { "api", TR_K_CODE }, { "apis", TR_K_CODE }, { "appellate", TR_K_LEGAL },
    { "arbitration", TR_K_LEGAL }, { "architecture", TR_K_SYSTEM },
    { "argue", TR_K_ANALYSIS }, { "array", TR_K_CODE }, { "arrays", TR_K_CODE },
    { "assess", TR_K_ANALYSIS }, { "assessing", TR_K_ANALYSIS },
    { "async", TR_K_CODE }, { "attorney", TR_K_LEGAL },
    { "average", TR_K_QUANT }, { "axiom", TR_K_PROOF },
    { "axioms", TR_K_PROOF }, { "backend", TR_K_CODE }, { "bash", TR_K_CODE },
    { "breach", TR_K_LEGAL }, { "brief", TR_K_BRIEF },
    { "briefly", TR_K_BRIEF }, { "bug", TR_K_DEBUG }, { "buggy", TR_K_DEBUG },
    { "bugs", TR_K_DEBUG }, { "caching", TR_K_SYSTEM },
    { "calculate", TR_K_MATH }, { "calculus", TR_K_MATH },
    { "can", TR_K_FILLER }, { "caption", TR_K_BRIEF }, { "case", TR_K_PART },
    { "categories", TR_K_FIXED }, { "category", TR_K_FIXED },
    { "chapter", TR_K_CREATIVE }, { "chapters", TR_K_CREATIVE },
    { "chronic", TR_K_MED }, { "claim", TR_K_PART }, { "class", TR_K_CODE },
    { "classes", TR_K_CODE }, { "clause", TR_K_LEGAL },
    { "clauses", TR_K_LEGAL }, { "cli", TR_K_CODE }, { "clinical", TR_K_MED },
    { "cluster", TR_K_SYSTEM }, { "clusters", TR_K_SYSTEM },
    { "code", TR_K_CODE }, { "coding", TR_K_CODE },
    { "combinatorics", TR_K_MATH }, { "compare", TR_K_ANALYSIS },
    { "comparing", TR_K_ANALYSIS }, { "compile", TR_K_CODE },
    { "compiler", TR_K_CODE }, { "compiles", TR_K_CODE },
    { "compliance", TR_K_LEGAL }, { "comprehensive", TR_K_LONGOUT },
    { "compute", TR_K_MATH }, { "concise", TR_K_BRIEF },
    { "concisely", TR_K_BRIEF }, { "concurrency", TR_K_SYSTEM },
    { "concurrent", TR_K_SYSTEM }, { "conflicting", TR_K_SYNTH },
    { "conjecture", TR_K_PROOF }, { "cons", TR_K_ANALYSIS },
    { "consensus", TR_K_SYSTEM }, { "constitutional", TR_K_LEGAL },
    { "contract", TR_K_LEGAL }, { "contracts", TR_K_LEGAL },
    { "contractual", TR_K_LEGAL }, { "contradictory", TR_K_SYNTH },
    { "contrast", TR_K_ANALYSIS }, { "convicted", TR_K_LEGAL },
    { "copyright", TR_K_LEGAL }, { "corollary", TR_K_PROOF },
    { "corrupted", TR_K_DEBUG }, { "corruption", TR_K_DEBUG },
    { "could", TR_K_FILLER }, { "counsel", TR_K_LEGAL },
    { "court", TR_K_LEGAL }, { "courts", TR_K_LEGAL },
    { "covenant", TR_K_LEGAL }, { "covenants", TR_K_LEGAL },
    { "cpp", TR_K_CODE }, { "crash", TR_K_DEBUG }, { "crashes", TR_K_DEBUG },
    { "crashing", TR_K_DEBUG }, { "critique", TR_K_ANALYSIS },
    { "critiquing", TR_K_ANALYSIS }, { "csharp", TR_K_CODE },
    { "css", TR_K_CODE }, { "csv", TR_K_FIXED }, { "d", TR_K_FILLER },
    { "damages", TR_K_LEGAL }, { "database", TR_K_CODE },
    { "databases", TR_K_CODE }, { "deadlock", TR_K_DEBUG },
    { "deadlocks", TR_K_DEBUG }, { "debug", TR_K_DEBUG },
    { "debugging", TR_K_DEBUG }, { "deed", TR_K_LEGAL },
    { "defendant", TR_K_LEGAL }, { "defendants", TR_K_LEGAL },
    { "deontological", TR_K_ETHICS }, { "derivation", TR_K_PROOF },
    { "derivative", TR_K_MATH }, { "derivatives", TR_K_MATH },
    { "derive", TR_K_PROOF }, { "detailed", TR_K_LONGOUT },
    { "diagnose", TR_K_MED }, { "diagnosis", TR_K_MED },
    { "dilemma", TR_K_ETHICS }, { "dilemmas", TR_K_ETHICS },
    { "discrepancies", TR_K_SYNTH }, { "discrepancy", TR_K_SYNTH },
    { "disease", TR_K_MED }, { "disorder", TR_K_MED },
    { "distributed", TR_K_SYSTEM }, { "docker", TR_K_CODE },
    { "dosage", TR_K_MED }, { "dose", TR_K_MED }, { "dozen", TR_K_NUMWORD },
    { "easement", TR_K_LEGAL }, { "eigenvalue", TR_K_MATH },
    { "eigenvalues", TR_K_MATH }, { "eight", TR_K_NUMWORD },
    { "elaborate", TR_K_LONGOUT }, { "eleven", TR_K_NUMWORD },
    { "endpoint", TR_K_CODE }, { "endpoints", TR_K_CODE },
    { "equation", TR_K_MATH }, { "equations", TR_K_MATH },
    { "essay", TR_K_CREATIVE }, { "essays", TR_K_CREATIVE },
    { "ethical", TR_K_ETHICS }, { "ethically", TR_K_ETHICS },
    { "ethics", TR_K_ETHICS }, { "evaluate", TR_K_ANALYSIS },
    { "evaluating", TR_K_ANALYSIS }, { "exception", TR_K_DEBUG },
    { "exceptions", TR_K_DEBUG }, { "exercise", TR_K_PART },
    { "exhaustive", TR_K_LONGOUT }, { "explain", TR_K_ANALYSIS },
    { "explaining", TR_K_ANALYSIS }, { "extensive", TR_K_LONGOUT },
    { "failover", TR_K_SYSTEM }, { "felony", TR_K_LEGAL },
    { "fewer", TR_K_QUANT }, { "fiction", TR_K_CREATIVE },
    { "fiduciary", TR_K_LEGAL }, { "fifteen", TR_K_NUMWORD },
    { "fifty", TR_K_NUMWORD }, { "first", TR_K_QUANT },
    { "five", TR_K_NUMWORD }, { "flaky", TR_K_DEBUG },
    { "forty", TR_K_NUMWORD }, { "four", TR_K_NUMWORD },
    { "framework", TR_K_CODE }, { "frontend", TR_K_CODE },
    { "function", TR_K_CODE }, { "functions", TR_K_CODE },
    { "gdpr", TR_K_LEGAL }, { "geometry", TR_K_MATH }, { "git", TR_K_CODE },
    { "goal", TR_K_FILLER }, { "golang", TR_K_CODE }, { "grpc", TR_K_SYSTEM },
    { "haiku", TR_K_BRIEF }, { "half", TR_K_QUANT }, { "hangs", TR_K_DEBUG },
    { "haskell", TR_K_CODE }, { "headline", TR_K_BRIEF },
    { "hearsay", TR_K_LEGAL }, { "hello", TR_K_FILLER },
    { "help", TR_K_FILLER }, { "hey", TR_K_FILLER }, { "hi", TR_K_FILLER },
    { "hipaa", TR_K_LEGAL }, { "html", TR_K_CODE }, { "http", TR_K_CODE },
    { "hundred", TR_K_NUMWORD }, { "hypothesis", TR_K_ANALYSIS },
    { "i", TR_K_FILLER }, { "idempotency", TR_K_SYSTEM },
    { "idempotent", TR_K_SYSTEM }, { "immoral", TR_K_ETHICS },
    { "impermissible", TR_K_ETHICS }, { "implementation", TR_K_CODE },
    { "implications", TR_K_ANALYSIS }, { "inadmissible", TR_K_LEGAL },
    { "indemnification", TR_K_LEGAL }, { "indemnify", TR_K_LEGAL },
    { "indemnity", TR_K_LEGAL }, { "indepth", TR_K_LONGOUT },
    { "indicted", TR_K_LEGAL }, { "induction", TR_K_PROOF },
    { "infection", TR_K_MED }, { "infer", TR_K_ANALYSIS },
    { "infrastructure", TR_K_SYSTEM }, { "infringement", TR_K_LEGAL },
    { "initially", TR_K_QUANT }, { "integral", TR_K_MATH },
    { "integrals", TR_K_MATH }, { "intermittent", TR_K_DEBUG },
    { "intermittently", TR_K_DEBUG }, { "is", TR_K_FILLER },
    { "item", TR_K_PART }, { "java", TR_K_CODE }, { "javascript", TR_K_CODE },
    { "job", TR_K_FILLER }, { "json", TR_K_FIXED },
    { "jurisdiction", TR_K_LEGAL }, { "jury", TR_K_LEGAL },
    { "just", TR_K_FILLER }, { "justify", TR_K_ANALYSIS },
    { "kafka", TR_K_SYSTEM }, { "kernel", TR_K_CODE },
    { "kindly", TR_K_FILLER }, { "kotlin", TR_K_CODE },
    { "kubernetes", TR_K_CODE }, { "label", TR_K_FIXED },
    { "labels", TR_K_FIXED }, { "lambda", TR_K_CODE },
    { "landlord", TR_K_LEGAL }, { "last", TR_K_QUANT },
    { "latency", TR_K_SYSTEM }, { "lawsuit", TR_K_LEGAL },
    { "lawyer", TR_K_LEGAL }, { "leak", TR_K_DEBUG }, { "leaks", TR_K_DEBUG },
    { "lease", TR_K_LEGAL }, { "legal", TR_K_LEGAL }, { "legally", TR_K_LEGAL },
    { "lemma", TR_K_PROOF }, { "lengthy", TR_K_LONGOUT },
    { "less", TR_K_QUANT }, { "let", TR_K_FILLER }, { "lets", TR_K_FILLER },
    { "liability", TR_K_LEGAL }, { "liable", TR_K_LEGAL },
    { "library", TR_K_CODE }, { "like", TR_K_FILLER },
    { "limerick", TR_K_BRIEF }, { "linux", TR_K_CODE },
    { "literature", TR_K_SYNTH }, { "litigation", TR_K_LEGAL },
    { "logarithm", TR_K_MATH }, { "manuscript", TR_K_CREATIVE },
    { "matrices", TR_K_MATH }, { "matrix", TR_K_MATH }, { "me", TR_K_FILLER },
    { "medication", TR_K_MED }, { "method", TR_K_CODE },
    { "methods", TR_K_CODE }, { "microservice", TR_K_SYSTEM },
    { "microservices", TR_K_SYSTEM }, { "million", TR_K_NUMWORD },
    { "misdemeanor", TR_K_LEGAL }, { "module", TR_K_CODE },
    { "modules", TR_K_CODE }, { "modulo", TR_K_MATH }, { "moral", TR_K_ETHICS },
    { "morality", TR_K_ETHICS }, { "morally", TR_K_ETHICS },
    { "more", TR_K_QUANT }, { "mortgage", TR_K_LEGAL },
    { "multithreaded", TR_K_SYSTEM }, { "mutex", TR_K_CODE },
    { "mysql", TR_K_SYSTEM }, { "narrative", TR_K_CREATIVE },
    { "nda", TR_K_LEGAL }, { "need", TR_K_FILLER },
    { "negligence", TR_K_LEGAL }, { "negligent", TR_K_LEGAL },
    { "nginx", TR_K_CODE }, { "nine", TR_K_NUMWORD }, { "nodejs", TR_K_CODE },
    { "novel", TR_K_CREATIVE }, { "novella", TR_K_CREATIVE },
    { "now", TR_K_FILLER }, { "npm", TR_K_CODE }, { "nuanced", TR_K_ANALYSIS },
    { "ok", TR_K_FILLER }, { "okay", TR_K_FILLER }, { "one", TR_K_NUMWORD },
    { "oneliner", TR_K_BRIEF }, { "orchestration", TR_K_SYSTEM },
    { "ordinance", TR_K_LEGAL }, { "originally", TR_K_QUANT },
    { "pages", TR_K_LONGOUT }, { "panic", TR_K_DEBUG },
    { "panics", TR_K_DEBUG }, { "part", TR_K_PART }, { "patent", TR_K_LEGAL },
    { "patient", TR_K_MED }, { "patients", TR_K_MED },
    { "percent", TR_K_QUANT }, { "perl", TR_K_CODE },
    { "permissible", TR_K_ETHICS }, { "permutations", TR_K_MATH },
    { "perspectives", TR_K_SYNTH }, { "php", TR_K_CODE },
    { "physician", TR_K_MED }, { "pipelines", TR_K_SYSTEM },
    { "plaintiff", TR_K_LEGAL }, { "plaintiffs", TR_K_LEGAL },
    { "please", TR_K_FILLER }, { "plot", TR_K_CREATIVE },
    { "pls", TR_K_FILLER }, { "pointer", TR_K_CODE }, { "pointers", TR_K_CODE },
    { "polynomial", TR_K_MATH }, { "polynomials", TR_K_MATH },
    { "postgres", TR_K_SYSTEM }, { "postgresql", TR_K_SYSTEM },
    { "precedent", TR_K_LEGAL }, { "premise", TR_K_PART },
    { "primes", TR_K_MATH }, { "probability", TR_K_MATH },
    { "problem", TR_K_PART }, { "prognosis", TR_K_MED },
    { "proof", TR_K_PROOF }, { "proofs", TR_K_PROOF },
    { "pros", TR_K_ANALYSIS }, { "prosecution", TR_K_LEGAL },
    { "prosecutor", TR_K_LEGAL }, { "prove", TR_K_PROOF },
    { "proves", TR_K_PROOF }, { "proving", TR_K_PROOF },
    { "python", TR_K_CODE }, { "qed", TR_K_PROOF }, { "quarter", TR_K_QUANT },
    { "queries", TR_K_CODE }, { "query", TR_K_CODE }, { "question", TR_K_PART },
    { "queue", TR_K_SYSTEM }, { "queues", TR_K_SYSTEM },
    { "quick", TR_K_BRIEF }, { "quickly", TR_K_BRIEF }, { "race", TR_K_DEBUG },
    { "ratio", TR_K_QUANT }, { "react", TR_K_CODE },
    { "reconcile", TR_K_SYNTH }, { "recursion", TR_K_CODE },
    { "redis", TR_K_SYSTEM }, { "refactor", TR_K_CODE },
    { "refactoring", TR_K_CODE }, { "regex", TR_K_CODE },
    { "regulatory", TR_K_LEGAL }, { "remainder", TR_K_QUANT },
    { "remaining", TR_K_QUANT }, { "replication", TR_K_SYSTEM },
    { "repo", TR_K_CODE }, { "repository", TR_K_CODE }, { "rest", TR_K_QUANT },
    { "rigorous", TR_K_PROOF }, { "rigorously", TR_K_PROOF },
    { "ruby", TR_K_CODE }, { "runtime", TR_K_CODE }, { "rust", TR_K_CODE },
    { "saga", TR_K_CREATIVE }, { "scalability", TR_K_SYSTEM },
    { "scalable", TR_K_SYSTEM }, { "scenario", TR_K_PART },
    { "schema", TR_K_FIXED }, { "screenplay", TR_K_CREATIVE },
    { "script", TR_K_CODE }, { "scripts", TR_K_CODE }, { "sdk", TR_K_CODE },
    { "second", TR_K_QUANT }, { "segfault", TR_K_DEBUG },
    { "segmentation", TR_K_DEBUG }, { "serum", TR_K_MED },
    { "server", TR_K_CODE }, { "servers", TR_K_CODE },
    { "services", TR_K_SYSTEM }, { "seven", TR_K_NUMWORD },
    { "sharding", TR_K_SYSTEM }, { "shell", TR_K_CODE },
    { "short", TR_K_BRIEF }, { "six", TR_K_NUMWORD }, { "slogan", TR_K_BRIEF },
    { "so", TR_K_FILLER }, { "solve", TR_K_MATH }, { "sources", TR_K_SYNTH },
    { "sql", TR_K_CODE }, { "stacktrace", TR_K_DEBUG },
    { "statement", TR_K_PART }, { "statute", TR_K_LEGAL },
    { "statutes", TR_K_LEGAL }, { "statutory", TR_K_LEGAL },
    { "step", TR_K_PART }, { "stories", TR_K_CREATIVE },
    { "story", TR_K_CREATIVE }, { "struct", TR_K_CODE }, { "sued", TR_K_LEGAL },
    { "swift", TR_K_CODE }, { "symptom", TR_K_MED }, { "symptoms", TR_K_MED },
    { "syndrome", TR_K_MED }, { "synthesise", TR_K_SYNTH },
    { "synthesize", TR_K_SYNTH }, { "synthesizing", TR_K_SYNTH },
    { "tagline", TR_K_BRIEF }, { "task", TR_K_FILLER | TR_K_PART },
    { "ten", TR_K_NUMWORD }, { "tenant", TR_K_LEGAL },
    { "testimony", TR_K_LEGAL }, { "than", TR_K_QUANT },
    { "then", TR_K_FILLER | TR_K_QUANT }, { "theorem", TR_K_PROOF },
    { "theorems", TR_K_PROOF }, { "therapy", TR_K_MED },
    { "third", TR_K_QUANT }, { "thirds", TR_K_QUANT },
    { "thirty", TR_K_NUMWORD }, { "thorough", TR_K_LONGOUT },
    { "thoroughly", TR_K_LONGOUT }, { "thousand", TR_K_NUMWORD },
    { "thread", TR_K_CODE }, { "threads", TR_K_CODE },
    { "three", TR_K_NUMWORD }, { "thrice", TR_K_QUANT },
    { "throughput", TR_K_SYSTEM }, { "tldr", TR_K_BRIEF },
    { "to", TR_K_FILLER }, { "together", TR_K_QUANT }, { "tort", TR_K_LEGAL },
    { "torts", TR_K_LEGAL }, { "traceback", TR_K_DEBUG },
    { "trademark", TR_K_LEGAL }, { "tradeoff", TR_K_ANALYSIS },
    { "tradeoffs", TR_K_ANALYSIS }, { "treatment", TR_K_MED },
    { "trial", TR_K_LEGAL }, { "tsv", TR_K_FIXED }, { "tumor", TR_K_MED },
    { "tweet", TR_K_BRIEF }, { "twelve", TR_K_NUMWORD },
    { "twenty", TR_K_NUMWORD }, { "twice", TR_K_QUANT },
    { "two", TR_K_NUMWORD }, { "typescript", TR_K_CODE },
    { "unconstitutional", TR_K_LEGAL }, { "unethical", TR_K_ETHICS },
    { "unittest", TR_K_CODE }, { "us", TR_K_FILLER },
    { "utilitarian", TR_K_ETHICS }, { "variable", TR_K_CODE },
    { "variables", TR_K_CODE }, { "vector", TR_K_MATH },
    { "vectors", TR_K_MATH }, { "verdict", TR_K_LEGAL },
    { "viewpoints", TR_K_SYNTH }, { "want", TR_K_FILLER },
    { "warranties", TR_K_LEGAL }, { "warranty", TR_K_LEGAL },
    { "we", TR_K_FILLER }, { "websocket", TR_K_SYSTEM },
    { "websockets", TR_K_SYSTEM }, { "why", TR_K_ANALYSIS },
    { "will", TR_K_FILLER }, { "worldbuilding", TR_K_CREATIVE },
    { "would", TR_K_FILLER }, { "wrongdoing", TR_K_ETHICS },
    { "xml", TR_K_FIXED }, { "yaml", TR_K_FIXED }, { "you", TR_K_FILLER },
    { "your", TR_K_FILLER },
};


static const tr_keyword_t  tr_cues[] = {
    { "each", TR_K_STEP }, { "every", TR_K_STEP }, { "except", TR_K_NEGATION },
    { "half", TR_K_STEP }, { "if", TR_K_STEP }, { "least", TR_K_NEGATION },
    { "not", TR_K_NEGATION }, { "per", TR_K_STEP }, { "percent", TR_K_STEP },
    { "remaining", TR_K_STEP }, { "then", TR_K_STEP }, { "total", TR_K_STEP },
    { "times", TR_K_STEP }, { "twice", TR_K_STEP }
};


static const tr_head_t  tr_heads[] = {
    { "alphabetize", TR_H_FORMAT }, { "analyse", TR_H_ANALYZE },
    { "analyze", TR_H_ANALYZE }, { "architect", TR_H_DESIGN },
    { "assess", TR_H_ANALYZE }, { "build", TR_H_IMPLEMENT },
    { "capitalize", TR_H_FORMAT }, { "categorise", TR_H_CLASSIFY },
    { "categorize", TR_H_CLASSIFY }, { "classify", TR_H_CLASSIFY },
    { "compare", TR_H_ANALYZE }, { "condense", TR_H_SUMMARY },
    { "convert", TR_H_FORMAT }, { "correct", TR_H_REWRITE },
    { "critique", TR_H_ANALYZE }, { "debug", TR_H_DEBUG },
    { "define", TR_H_LOOKUP }, { "derive", TR_H_PROVE },
    { "design", TR_H_DESIGN }, { "develop", TR_H_IMPLEMENT },
    { "diagnose", TR_H_DEBUG }, { "evaluate", TR_H_ANALYZE },
    { "extract", TR_H_EXTRACT }, { "fill", TR_H_TEMPLATE },
    { "format", TR_H_FORMAT }, { "implement", TR_H_IMPLEMENT },
    { "label", TR_H_CLASSIFY }, { "list", TR_H_LOOKUP },
    { "name", TR_H_LOOKUP }, { "paraphrase", TR_H_REWRITE },
    { "polish", TR_H_REWRITE }, { "proofread", TR_H_REWRITE },
    { "prove", TR_H_PROVE }, { "reconcile", TR_H_SYNTH },
    { "reformat", TR_H_FORMAT }, { "rephrase", TR_H_REWRITE },
    { "review", TR_H_ANALYZE }, { "reword", TR_H_REWRITE },
    { "rewrite", TR_H_REWRITE }, { "shorten", TR_H_SUMMARY },
    { "sort", TR_H_FORMAT }, { "spell", TR_H_LOOKUP },
    { "summarise", TR_H_SUMMARY }, { "summarize", TR_H_SUMMARY },
    { "synthesise", TR_H_SYNTH }, { "synthesize", TR_H_SYNTH },
    { "tag", TR_H_CLASSIFY }, { "tldr", TR_H_SUMMARY },
    { "translate", TR_H_TRANSLATE }, { "troubleshoot", TR_H_DEBUG },
};


/* words that only mark what follows or what they follow */

static const tr_keyword_t  tr_marks[] = {
    { "word", TR_K_WORDS }, { "words", TR_K_WORDS },
    { "page", TR_K_PAGES }, { "pages", TR_K_PAGES },
    { "short", TR_K_SHORT }
};


static const char  *tr_head_reasons[] = {
    NULL, "task_translate", "task_classify", "task_extract", "task_format",
    "task_lookup", "task_summary", "task_rewrite", "task_template", "proof",
    "task_design", "task_code", "task_debug", "task_analysis", "synthesis"
};


/* a letter lowercased, 0 for anything else */

static const unsigned char  tr_lower[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 'a', 'b', 'c', 'd', 'e', 'f', 'g',
    'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 0, 0, 0, 0, 0,
    0, 'a', 'b', 'c', 'd', 'e', 'f', 'g',
    'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 0, 0, 0, 0, 0,
    /* 0x80 .. 0xff: 0 */
};


static tr_slot_t  tr_index[TR_HASH_SIZE];

/* ln(1 + n) of the small counts, computed once by the same series */

#define TR_LN1P_TABLE  256

static double  tr_ln1p_table[TR_LN1P_TABLE];
static int                          tr_indexed;


/*
 * Builds the word index; the module calls it at configuration time so
 * that workers inherit it, and classify() calls it if nobody did.
 */

void
tr_classify_init(void)
{
    size_t      i, n;
    tr_slot_t  *slot;

    if (tr_indexed) {
        return;
    }

    n = sizeof(tr_keywords)
        / sizeof(tr_keyword_t);

    for (i = 0; i < n; i++) {
        slot = tr_insert(
                    tr_keywords[i].word);
        slot->flags |= tr_keywords[i].flags;
    }

    n = sizeof(tr_cues)
        / sizeof(tr_keyword_t);

    for (i = 0; i < n; i++) {
        slot = tr_insert(tr_cues[i].word);
        slot->flags |= tr_cues[i].flags;
    }

    n = sizeof(tr_marks) / sizeof(tr_keyword_t);

    for (i = 0; i < n; i++) {
        slot = tr_insert(tr_marks[i].word);
        slot->flags |= tr_marks[i].flags;
    }

    n = sizeof(tr_heads)
        / sizeof(tr_head_t);

    for (i = 0; i < n; i++) {
        slot = tr_insert(tr_heads[i].word);
        slot->kind = tr_heads[i].kind;
    }

    for (i = 0; i < TR_LN1P_TABLE; i++) {
        tr_ln1p_table[i] =
                 tr_ln(1.0 + (double) i);
    }

    tr_indexed = 1;
}


/* the word's slot in the index, taken for it if it had none */

static tr_slot_t *
tr_insert(const char *w)
{
    size_t      len;
    unsigned    upper;
    tr_key_t    key;
    tr_slot_t  *slot;

    /* the tables' words are lowercase letters, read as the text is */

    len = strlen(w);
    (void) tr_word_read((const unsigned char *) w,
                        (const unsigned char *) w + len, &key, &upper);

    for (slot = &tr_index[tr_key_slot(&key)];
         slot->word && strcmp(slot->word, w) != 0;
         slot = (slot == &tr_index[TR_HASH_SIZE - 1])
                ? tr_index : slot + 1)
    {
        /* void */
    }

    slot->word = w;
    slot->key = key;

    return slot;
}


void
tr_classify(const tr_features_t *f,
    tr_verdict_t *v)
{
    int         simple, hard, quant_ctx, code_reason;
    size_t      len, text_len;
    double      z, t, units, fixed, up;
    unsigned    i;
    tr_scan_t   s, sys;
    tr_options_t  options;

    if (!tr_indexed) {
        tr_classify_init();
    }

    memset(&s, 0, sizeof(tr_scan_t));
    memset(&sys, 0, sizeof(tr_scan_t));

    v->score = 0.0;
    v->no_signal = 0;
    v->reasons[0] = '\0';
    len = 0;

    text_len = (f->text != NULL) ? f->text_len : 0;

    if (text_len) {
        s.options = f->count ? &options : NULL;
        options.n = 0;
        tr_scan(f->text, text_len, &s);
    }

    if (f->system != NULL && f->system_len) {
        tr_scan_system(f->system, f->system_len, &sys);
    }

    v->counts.bytes = (unsigned) text_len;
    v->counts.words = s.words;
    v->counts.wbytes = s.wbytes;
    v->counts.nums = s.nums;
    v->counts.digits = s.digits;
    v->counts.upper = s.upper;
    v->counts.sentences = s.sentences;
    v->counts.lines = s.lines;
    v->counts.commas = s.commas;
    v->counts.signs = s.signs;
    v->counts.steps = s.steps;
    v->counts.negation = s.negation;
    v->counts.question = s.question;
    v->counts.overlap = s.options ? tr_overlap(&options)
                                  : 0;

    /*
     * The weights below are logit units.  The size and structure terms
     * were fitted on the development sets (GSM8K, MMLU); the kinds of
     * task that those sets do not hold (code, design, translation, ...)
     * are weighted by hand so that routine tasks land in the cheapest
     * tier and hard ones in the upper tiers.  "up" sums what pointed to
     * a harder request, for the short_simple reason.
     */

    z = -2.2;
    up = 0.0;

    /* size: words, numbers and non-ASCII text (about 3 bytes a word) */

    units = (double) s.words + s.nums + s.nonascii / 3.0;

    /* a whole count's logarithm from the table: the same double */

    z += 0.4 * ((s.nonascii % 3 == 0)
                ? tr_ln1p(s.words + s.nums + s.nonascii / 3)
                : tr_ln(1.0 + units));
    z += 0.2 * tr_ln1p(s.sentences);
    z -= 0.15 * tr_ln1p(s.nums);

    /* bytes, a little: breaks ties between texts of as many words */

    z += 0.02 * tr_ln1p((unsigned) text_len);

    /* the kind of task, by the verb that opens a sentence */

    simple = 0;
    hard = 0;

    for (i = 1; i < TR_NHEADS; i++) {
        if (s.head[i] == 0) {
            continue;
        }

        if (i <= TR_H_LAST_SIMPLE) {
            simple++;

        } else {
            hard++;
        }

        tr_reason(v, &len,
                  tr_head_reasons[i]);
    }

    if (simple == 0 && hard == 0) {

        /* "You translate the user's text into French." */

        for (i = 1; i <= TR_H_LAST_SIMPLE; i++) {
            if (sys.head[i]) {
                simple++;
                tr_reason(v, &len,
                      tr_head_reasons[i]);
            }
        }
    }

    if (simple) {
        z -= hard ? 0.45 : 0.9;
    }

    if (hard) {
        t = (s.head[TR_H_ANALYZE] && hard == 1) ? 0.4 : 0.6;
        z += t;
        up += t;
    }

    /* code, systems, debugging */

    code_reason = (s.cat[TR_C_CODE] >= 2 || s.head[TR_H_IMPLEMENT]
                   || (s.cat[TR_C_CODE] && s.fences >= 2));

    t = 0.35 * tr_ln1p(s.cat[TR_C_CODE]);
    z += t;
    up += t;

    if (code_reason) {
        tr_reason(v, &len, "task_code");
    }

    t = 0.45 * tr_ln1p(s.cat[TR_C_SYSTEM]);
    z += t;
    up += t;

    if (s.cat[TR_C_SYSTEM] >= 2) {
        tr_reason(v, &len, "systems");
    }

    t = 0.35 * tr_ln1p(s.cat[TR_C_DEBUG]);
    z += t;
    up += t;

    if (s.cat[TR_C_DEBUG]) {
        tr_reason(v, &len, "task_debug");
    }

    if (s.fences >= 2
        || (s.punct >= 12 && s.punct * 25 >= text_len))
    {
        z += 0.35;
        up += 0.35;
        tr_reason(v, &len, "code_block");
    }

    /* mathematics: proofs, formal math, multi-step arithmetic */

    if (s.cat[TR_C_PROOF]) {
        t = 0.7 + 0.2 * tr_ln1p(s.cat[TR_C_PROOF]);
        z += t;
        up += t;
        tr_reason(v, &len, "proof");
    }

    if (s.cat[TR_C_MATH]) {
        t = 0.15 * tr_ln1p(s.cat[TR_C_MATH]);
        z += t;
        up += t;
        tr_reason(v, &len, "math");
    }

    quant_ctx = (s.nums + s.cat[TR_C_NUMWORD] >= 2);

    if (quant_ctx && s.cat[TR_C_QUANT]) {
        t = 0.48 * tr_ln1p(s.cat[TR_C_QUANT]);
        z += t;

        if (s.cat[TR_C_QUANT] >= 3) {
            up += t;
            tr_reason(v, &len, "multi_step");
        }
    }

    /* domains that take judgement */

    if (s.cat[TR_C_LEGAL]) {
        t = 0.25 * tr_ln1p(s.cat[TR_C_LEGAL]);
        z += t;

        if (s.cat[TR_C_LEGAL] >= 2) {
            up += t;
            tr_reason(v, &len, "legal");
        }
    }

    if (s.cat[TR_C_MED]) {
        t = 0.3 * tr_ln1p(s.cat[TR_C_MED]);
        z += t;

        if (s.cat[TR_C_MED] >= 2) {
            up += t;
            tr_reason(v, &len, "medical");
        }
    }

    if (s.cat[TR_C_ETHICS]) {
        t = 0.55 * tr_ln1p(s.cat[TR_C_ETHICS]);
        z += t;
        up += t;
        tr_reason(v, &len, "ethics");
    }

    if (s.cat[TR_C_SYNTH]) {
        t = 0.35 * tr_ln1p(s.cat[TR_C_SYNTH]);
        z += t;

        if (s.cat[TR_C_SYNTH] >= 2) {
            up += t;
            tr_reason(v, &len, "synthesis");
        }
    }

    z += 0.1 * tr_ln1p(s.cat[TR_C_ANALYSIS]);

    /* the shape of the question */

    if (s.parts >= 2) {
        t = 0.7 * tr_ln1p(s.parts);
        z += t;
        up += t;
        tr_reason(v, &len, "multi_part");
    }

    if (s.items >= 3) {
        t = 0.2 * tr_ln1p(s.items);
        z += t;
        up += t;

        if (s.parts < 2) {
            tr_reason(v, &len, "multi_part");
        }
    }

    if (s.choices >= 3) {
        z -= 0.3;
        tr_reason(v, &len, "choices");
    }

    /* how long an answer: the words, then max_tokens */

    if (s.cat[TR_C_CREATIVE]) {
        t = 0.35 * tr_ln1p(s.cat[TR_C_CREATIVE]);
        z += t;
        up += t;
        tr_reason(v, &len, "creative");
    }

    t = 0.3 * tr_ln1p(s.cat[TR_C_LONGOUT])
        + (s.long_ask ? 0.7 : 0.0);
    z += t;
    up += t;

    if (t > 0.0 || f->max_tokens >= 4096) {
        tr_reason(v, &len, "long_output");
    }

    t = 0.3 * tr_ln1p(s.cat[TR_C_BRIEF] + s.short_ask);
    z -= t;

    if (t > 0.0 || (f->max_tokens >= 0 && f->max_tokens <= 256)) {
        tr_reason(v, &len, "short_output");
    }

    if (f->max_tokens >= 0) {
        t = 0.25 * tr_ln((f->max_tokens + 1.0) / 1024.0);
        t = (t < -0.6) ? -0.6 : (t > 0.6 ? 0.6 : t);
        z += t;

        if (t > 0.0) {
            up += t;
        }
    }

    /* how fully the output is defined */

    fixed = s.cat[TR_C_FIXED] + sys.cat[TR_C_FIXED] / 2.0;

    if (fixed > 0.0) {
        z -= 0.25 * tr_ln(1.0 + fixed);
        tr_reason(v, &len, "fixed_output");
    }

    if (f->json_schema) {
        z -= 0.5;
        tr_reason(v, &len, "json_schema");

    } else if (f->json_output) {
        z -= 0.25;
        tr_reason(v, &len, "json_output");
    }

    /* what the client asked for */

    if (f->reasoning) {
        t = (f->reasoning == 1) ? 0.15 : (f->reasoning == 2 ? 0.4 : 0.8);
        z += t;
        up += t;
        tr_reason(v, &len,
                  (f->reasoning == 1) ? "reasoning_low"
                  : (f->reasoning == 2) ? "reasoning_medium"
                  : "reasoning_high");
    }

    if (f->user_turns >= 2 || f->messages > 2) {
        t = 0.15 * tr_ln1p(f->user_turns ? f->user_turns - 1 : 0)
            + 0.05 * tr_ln(f->messages > 2
                            ? f->messages / 2.0 : 1.0);
        z += t;

        if (f->user_turns >= 3 || f->messages >= 6) {
            up += t;
            tr_reason(v, &len, "multi_turn");
        }
    }

    if (f->tools) {
        t = 0.3 + 0.1 * tr_ln(f->tools);
        z += t;
        up += t;
        tr_reason(v, &len, "tools");
    }

    if (f->tool_results) {
        t = 0.12 * tr_ln1p(f->tool_results);
        z += t;
        up += t;
        tr_reason(v, &len, "tool_results");
    }

    if (f->images) {
        t = 0.2 + 0.05 * tr_ln(f->images);
        z += t;
        up += t;
        tr_reason(v, &len, "images");
    }

    if (f->total_text >= 16384) {
        t = 0.25 * tr_ln(f->total_text / 16384.0);
        z += (t > 0.7) ? 0.7 : t;
        up += t;
        tr_reason(v, &len, "long_input");

    } else if (units >= 600) {
        tr_reason(v, &len, "long_input");
    }

    if (units <= 12 && up == 0.0) {
        tr_reason(v, &len, "short_simple");
    }

    v->no_signal = (len == 0);

    /* softsign: monotonic, continuous, no exp() */

    v->score = 0.5 + 0.5 * z / (1.0 + (z < 0 ? -z : z));

    if (v->score < 0.0) {
        v->score = 0.0;

    } else if (v->score > 1.0) {
        v->score = 1.0;
    }
}


static void
tr_scan_system(const unsigned char *p, size_t len,
    tr_scan_t *s)
{
    uint64_t    h;
    tr_memo_t  *m;

    if (len > TR_MEMO_TEXT) {
        tr_scan(p, len, s);
        return;
    }

    h = tr_memo_hash(p, len);
    m = &tr_memo[h % TR_MEMO_SLOTS];

    if (m->len == len && m->hash == h && memcmp(m->text, p, len) == 0) {
        *s = m->scan;
        return;
    }

    tr_scan(p, len, s);

    m->hash = h;
    m->len = len;
    m->scan = *s;
    memcpy(m->text, p, len);
}


/* 8 bytes a step, multiplied and folded */

static uint64_t
tr_memo_hash(const unsigned char *p, size_t len)
{
    size_t    i;
    uint64_t  h, w;

    h = len;

    for (i = 0; i + 8 <= len; i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 32;
    }

    for ( /* void */ ; i < len; i++) {
        h = (h ^ p[i]) * 0x100000001b3ULL;
    }

    return h ^ (h >> 29);
}


static void
tr_scan(const unsigned char *p, size_t len,
    tr_scan_t *s)
{
    int                   line_start;
    size_t                i, n;
    unsigned              h, upper;
    tr_key_t              key;
    unsigned char         c, d;
    const unsigned char  *end;

    end = p + len;
    line_start = 1;
    s->state |= TR_S_HEAD;
    i = 0;

    while (i < len) {
        c = p[i];

        if (c == ' ' && !line_start) {
            i++;                    /* nothing to count */
            continue;
        }

        if (line_start) {
            if (c == ' ' || c == '\t' || c == '\r') {
                i++;
                continue;
            }

            line_start = 0;
            n = tr_line(p + i, len - i, s);

            if (n) {
                i += n;
                s->state |= TR_S_HEAD;
                continue;
            }
        }

        if (tr_lower[c]) {

            n = tr_word_read(p + i, end, &key, &upper);

            /* at least the letter c: the scan goes on whatever the read */
            i += n ? n : 1;

            s->upper += upper;
            s->wbytes += n;

            if (n >= TR_WORD_LEN) {
                /* too long for any keyword: a word all the same */
                s->words++;
                s->state &= ~(TR_S_HEAD | TR_S_PART | TR_S_NUM);
                continue;
            }

            tr_word(&key, s);
            continue;
        }

        if (c >= '0' && c <= '9') {
            s->num = 0;

            while (i < len) {
                c = p[i];

                if (c >= '0' && c <= '9') {
                    s->digits++;

                    if (s->num < 100000000) {
                        s->num = s->num * 10 + (c - '0');
                    }

                } else if ((c == '.' || c == ',') && i + 1 < len
                           && p[i + 1] >= '0' && p[i + 1] <= '9')
                {
                    /* 1,000 and 3.14 are one number */

                } else {
                    break;
                }

                i++;
            }

            s->nums++;

            if (s->state & TR_S_OPTION) {
                /* a number joins the option's set as a word does */
                h = (unsigned) (s->num * TR_FNV_PRIME);
                h ^= h >> 16;
                s->options->set[s->options->n - 1][(h >> 6) & 3]
                                              |= (uint64_t) 1 << (h & 63);
            }

            if (s->state & TR_S_PART) {
                s->parts++;
            }

            s->state = (s->state & ~(TR_S_PART | TR_S_HEAD)) | TR_S_NUM;
            continue;
        }

        switch (c) {

        case '\n':
            line_start = 1;
            s->state = (s->state & ~TR_S_OPTION) | TR_S_HEAD;
            s->lines++;
            break;

        case ',':
            s->commas++;
            break;

        case '+':
        case '^':
        case '*':
        case '/':
        case '%':
        case '$':
            s->signs++;
            break;

        case '.':
        case '?':
        case '!':
            if (c == '?' && s->lines == 0) {
                s->question = 1;
            }

            d = (i + 1 < len) ? p[i + 1] : ' ';

            if (d == ' ' || d == '\n' || d == '\r' || d == '\t'
                || d == '"' || d == '\'' || d == ')')
            {
                s->sentences++;
                s->state |= TR_S_HEAD;
            }

            break;

        case '`':
            if (i + 2 < len && p[i + 1] == '`' && p[i + 2] == '`') {
                s->fences++;
                i += 3;
                continue;
            }

            break;

        case '(':
            d = i ? p[i - 1] : ' ';

            if (d == ' ' || d == '\n' || d == '\t') {
                n = tr_paren(p + i, len - i);

            } else {
                n = 0;              /* f(2), sqrt(3) */
            }

            if (n) {
                s->parts++;
                i += n;
                continue;
            }

            break;

        case '=':
            s->signs++;
            s->punct++;
            break;

        case '{':
        case '}':
        case ';':
        case '<':
        case '>':
        case '[':
        case ']':
            s->punct++;
            break;

        default:
            if (c >= 0x80) {
                s->nonascii++;
                s->state &= ~(TR_S_PART | TR_S_NUM);
            }

            break;
        }

        i++;
    }
}


/*
 * At the first byte of a line: "A. " .. "E. " (a choice), "1. " or "- "
 * (an item), "II. " (a part).  Returns the bytes taken, or 0.
 */

static size_t
tr_line(const unsigned char *p, size_t len,
    tr_scan_t *s)
{
    size_t  n;

    if (len >= 2 && (p[0] == '-' || p[0] == '*' || p[0] == '+')
        && p[1] == ' ')
    {
        s->items++;
        return 2;
    }

    if (len >= 3 && (p[1] == '.' || p[1] == ')') && p[2] == ' ') {

        if ((p[0] >= 'A' && p[0] <= 'E') || (p[0] >= 'a' && p[0] <= 'e')) {
            s->choices++;

            if (s->options && s->options->n < TR_OPTIONS) {
                memset(s->options->set[s->options->n++], 0,
                       sizeof(s->options->set[0]));
                s->state |= TR_S_OPTION;
            }

            return 3;
        }
    }

    for (n = 0; n < len && n < 4 && p[n] >= '0' && p[n] <= '9'; n++) {
        /* void */
    }

    if (n && n < 4 && n + 1 < len && (p[n] == '.' || p[n] == ')')
        && p[n + 1] == ' ')
    {
        s->items++;
        return n + 2;
    }

    for (n = 0; n < len && n < 5 && (p[n] == 'I' || p[n] == 'V'); n++) {
        /* void */
    }

    if (n && n < 5 && n + 1 < len && (p[n] == '.' || p[n] == ')')
        && p[n + 1] == ' ')
    {
        s->parts++;
        return n + 2;
    }

    return 0;
}


/* "(a)", "(ii)", "(3)": returns the bytes taken, or 0 */

static size_t
tr_paren(const unsigned char *p, size_t len)
{
    size_t  n;

    if (len >= 3 && p[2] == ')'
        && ((p[1] >= 'a' && p[1] <= 'h') || (p[1] >= '1' && p[1] <= '9')))
    {
        return 3;
    }

    for (n = 1; n < len && n < 6 && (p[n] == 'i' || p[n] == 'v'); n++) {
        /* void */
    }

    if (n > 1 && n < len && p[n] == ')') {
        return n + 1;
    }

    return 0;
}


/*
 * For the learned scorer: 1 a negation (not, except, least), 2 a step of
 * a word problem (if, then, each, every, per, total, remaining, times,
 * twice, half, percent), else 0; w is lowercase
 */

/*
 * The mean Jaccard similarity of the words of each pair of answer
 * options; 0 with fewer than two.  Options that differ by little are
 * harder to tell apart.
 */

static double
tr_overlap(const tr_options_t *o)
{
    double    sum;
    unsigned  a, b, j, both, either, pairs;

    if (o->n < 2) {
        return 0;
    }

    sum = 0;
    pairs = 0;

    for (a = 0; a < o->n; a++) {
        for (b = a + 1; b < o->n; b++) {
            both = 0;
            either = 0;

            for (j = 0; j < 4; j++) {
                both += __builtin_popcountll(o->set[a][j] & o->set[b][j]);
                either += __builtin_popcountll(o->set[a][j] | o->set[b][j]);
            }

            sum += either ? (double) both / either : 0;
            pairs++;
        }
    }

    return sum / pairs;
}


/*
 * The letters from p, a word, 8 at a time: its key (the first
 * TR_WORD_LEN letters lowercase, zero-padded) and its capitals.  A word
 * of TR_WORD_LEN letters or more is passed to its end and never looked
 * up.  Returns its length.
 *
 * In each 8 bytes, a byte is a letter if it is under 0x80 and, with bit
 * 0x20 set (lowercase), from 'a' to 'z': adding 0x1f to its low seven bits
 * sets bit 7 from 'a' on, adding 0x05 from '{' on, and no sum carries
 * into the next byte.  A capital is a letter without bit 0x20; the
 * capitals' bits, moved to bit 0 of their bytes, are summed by one
 * multiplication (no popcount instruction in the baseline x86-64).
 */

#define TR_BYTES(b)   ((uint64_t) (b) * 0x0101010101010101ULL)

static inline size_t
tr_word_read(const unsigned char *p, const unsigned char *end,
    tr_key_t *key, unsigned *upper)
{
    size_t    n, i, m;
    uint64_t  x, low, letters, stops, keep;

    n = 0;
    *upper = 0;
    key->k[1] = 0;
    key->k[2] = 0;

    for (i = 0; i < TR_KEY_WORDS; i++) {
        x = tr_word_chunk(p + n, end);

        low = (x | TR_BYTES(0x20)) & TR_BYTES(0x7f);
        letters = (low + TR_BYTES(0x1f)) & ~(low + TR_BYTES(0x05)) & ~x
                  & TR_BYTES(0x80);
        stops = ~letters & TR_BYTES(0x80);

        m = stops ? (size_t) __builtin_ctzll(stops) >> 3 : 8;
        keep = (m == 8) ? ~(uint64_t) 0 : ((uint64_t) 1 << (m * 8)) - 1;

        key->k[i] = (x | TR_BYTES(0x20)) & keep;
        *upper += (unsigned) (((((~x << 2) & letters & keep) >> 7)
                               * TR_BYTES(1)) >> 56);
        n += m;

        if (m < 8) {
            key->len = n;
            return n;
        }
    }

    /* too long for any keyword: the rest of it is only counted */

    while (p + n < end && tr_lower[p[n]]) {
        *upper += (p[n] < 'a');
        n++;
    }

    key->len = n;

    return n;
}


/* 8 bytes from p, the first in the low byte; 0 for those past end */

static inline uint64_t
tr_word_chunk(const unsigned char *p, const unsigned char *end)
{
    uint64_t       x;
    unsigned char  b[8];

    if (end - p >= 8) {
        memcpy(&x, p, 8);

    } else {
        memset(b, 0, 8);
        memcpy(b, p, end - p);
        memcpy(&x, b, 8);
    }

#if (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
    x = __builtin_bswap64(x);
#endif

    return x;
}


static void
tr_word(const tr_key_t *key, tr_scan_t *s)
{
    unsigned          flags, kind, hash;
    const tr_slot_t  *slot;

    s->words++;

    slot = tr_lookup(key);

    if (slot == NULL && s->state == 0) {
        return;                 /* most words: nothing more to count */
    }

    flags = slot ? slot->flags : 0;

    if (flags & (TR_K_NEGATION | TR_K_STEP)) {
        s->negation |= (flags & TR_K_NEGATION) ? 1 : 0;
        s->steps += (flags & TR_K_STEP) ? 1 : 0;
    }

    if (s->state & TR_S_OPTION) {
        /* the word joins the answer option's set of hashes */
        hash = tr_fnv(key);
        s->options->set[s->options->n - 1][(hash >> 6) & 3]
                                             |= (uint64_t) 1 << (hash & 63);
    }

    /* "2000 words", "5 pages", "in 50 words" */

    if ((s->state & TR_S_NUM) && (flags & TR_K_WORDS)) {
        if (s->num >= 800) {
            s->long_ask++;

        } else if (s->num <= 100) {
            s->short_ask++;
        }

    } else if ((s->state & TR_S_NUM) && (flags & TR_K_PAGES)) {
        if (s->num >= 3) {
            s->long_ask++;
        }
    }

    if ((s->state & TR_S_PART)
        && ((key->len == 1 && key->k[0] >= 'a' && key->k[0] <= 'h')
            || tr_roman(key)))
    {
        s->parts++;
    }

    s->state &= ~(TR_S_PART | TR_S_NUM);
    s->state |= (flags & TR_K_PART) ? TR_S_PART : 0;

    if ((s->state & TR_S_SHORT) && (flags & TR_K_CREATIVE)) {
        /* "a short story" is a kind of writing, not a length */
        s->cat[TR_C_BRIEF]--;
    }

    s->state &= ~TR_S_SHORT;
    s->state |= (flags & TR_K_SHORT) ? TR_S_SHORT : 0;

    if ((s->state & TR_S_HEAD) && !(flags & TR_K_FILLER)) {
        s->state &= ~TR_S_HEAD;
        kind = slot ? slot->kind : TR_H_NONE;

        if (kind) {
            s->head[kind]++;
        }
    }

    for (flags &= TR_CATS; flags; flags &= flags - 1) {
        s->cat[__builtin_ctz(flags)]++;
    }
}


/* "i" .. "iv", "vi", ...: up to 4 of 'i' and 'v' */

static int
tr_roman(const tr_key_t *key)
{
    size_t    i;
    unsigned  c;

    if (key->len == 0 || key->len > 4) {
        return 0;
    }

    for (i = 0; i < key->len; i++) {
        c = (unsigned) (key->k[0] >> (i * 8)) & 0xff;

        if (c != 'i' && c != 'v') {
            return 0;
        }
    }

    return 1;
}


/* FNV-1a of the word's letters, lowercase */

static unsigned
tr_fnv(const tr_key_t *key)
{
    size_t    i;
    unsigned  h;

    h = TR_FNV_BASIS;

    for (i = 0; i < key->len; i++) {
        h = (h ^ ((unsigned) (key->k[i >> 3] >> ((i & 7) * 8)) & 0xff))
            * TR_FNV_PRIME;
    }

    return h;
}


static const tr_slot_t *
tr_lookup(const tr_key_t *key)
{
    const tr_slot_t  *slot;

    slot = &tr_index[tr_key_slot(key)];

    while (slot->word) {

        if (slot->key.len == key->len && slot->key.k[0] == key->k[0]
            && slot->key.k[1] == key->k[1] && slot->key.k[2] == key->k[2])
        {
            return slot;
        }

        slot = (slot == &tr_index[TR_HASH_SIZE - 1])
               ? tr_index : slot + 1;
    }

    return NULL;
}


/* the key's first slot: multiplied, its high bits */

static size_t
tr_key_slot(const tr_key_t *key)
{
    uint64_t  h;

    h = (key->k[0] ^ key->len) * 0x9e3779b97f4a7c15ULL;

    if (key->len > 8) {
        h ^= (key->k[1] ^ key->k[2] * 0xff51afd7ed558ccdULL)
             * 0xc2b2ae3d27d4eb4fULL;
    }

    return (size_t) (h >> 54);      /* TR_HASH_SIZE is 2 ^ 10 */
}


/* natural logarithm for x > 0, to about 1e-10, without libm */

static const double  tr_odd_inverse[12] = {
    1.0, 1.0 / 3, 1.0 / 5, 1.0 / 7, 1.0 / 9, 1.0 / 11, 1.0 / 13, 1.0 / 15,
    1.0 / 17, 1.0 / 19, 1.0 / 21, 1.0 / 23
};


static double
tr_ln(double x)
{
    int     k, i;
    double  y, y2, term, sum;

    /* multiplications by 1/i, not divisions: a tenth of the time */

    if (!(x > 0.0)) {
        return 0.0;
    }

    k = 0;

    while (x >= 2.0 && k < 2048) {
        x /= 2.0;
        k++;
    }

    while (x < 1.0 && k > -2048) {
        x *= 2.0;
        k--;
    }

    /* ln x = 2 atanh(y), y = (x - 1) / (x + 1), 0 <= y < 1/3 */

    y = (x - 1.0) / (x + 1.0);
    y2 = y * y;
    term = y;
    sum = 0.0;

    for (i = 0; i < 12; i++) {
        sum += term * tr_odd_inverse[i];
        term *= y2;
    }

    return 2.0 * sum + k * 0.69314718055994530942;
}


static double
tr_ln1p(unsigned n)
{
    if (n < TR_LN1P_TABLE) {
        return tr_ln1p_table[n];
    }

    return tr_ln(1.0 + n);
}


static void
tr_reason(tr_verdict_t *v, size_t *len,
    const char *token)
{
    size_t       n;
    const char  *p, *e;

    n = strlen(token);

    /* once each */

    p = v->reasons;
    e = v->reasons + *len;

    while (p < e) {
        if ((size_t) (e - p) >= n && memcmp(p, token, n) == 0
            && (p + n == e || p[n] == ','))
        {
            return;
        }

        while (p < e && *p != ',') {
            p++;
        }

        p++;
    }

    if (*len + (*len ? 1 : 0) + n + 1 > TR_REASONS_LEN) {
        return;
    }

    if (*len) {
        v->reasons[(*len)++] = ',';
    }

    memcpy(v->reasons + *len, token, n);
    *len += n;
    v->reasons[*len] = '\0';
}
