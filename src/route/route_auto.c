/* route_auto.c — feature extraction (question, structure, lexicon, hashed
 * n-grams), the per-prompt linear model and the expected-value choice of the
 * auto router. */
#include "route_auto.h"
#include "route_auto_weights.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>

_Static_assert(GR_AUTO_WEIGHTS_NFEAT == GR_AUTO_NFEAT && GR_AUTO_WEIGHTS_NHASH == GR_AUTO_NHASH &&
                   GR_AUTO_WEIGHTS_NOUT == GR_AUTO_NOUT,
               "route_auto_weights.h is stale: re-run tools/route/train.mjs");

/* ---- lexicon ---- */

enum {
    CUE_CODE = 0,
    CUE_MATH,
    CUE_REASON,
    CUE_EXTRACT,
    CUE_SUMMARY,
    CUE_TRANSLATE,
    CUE_CHAT,
    CUE_WRITE,
    CUE_ROLEPLAY,
    CUE_STEM,
    CUE_HUMAN,
    CUE_HARD,
    CUE_EASY,
    CUE_CONSTRAINT,
    CUE_QWORD,
    CUE_STEPS,   /* features 38.. (not in the 18 + k block) */
    CUE_LENUNIT, /* "words", "sentences" ...: after a number, an asked answer length */
    CUE_COUNT_
};

typedef struct {
    const char *words; /* space separated; "a_b" is the bigram "a b" */
    int cue;
} lex_group;

static const lex_group lexicon[] = {
    {"code coding program programming function functions def class method implement "
     "implementation python javascript java typescript rust golang cpp sql regex "
     "bug debug compile compiler algorithm algorithms api json html css script "
     "variable variables array arrays loop recursion recursive stack queue binary "
     "string_manipulation linked_list hash_table unit_test return int struct pointer "
     "runtime complexity snippet refactor github repo bash shell query database",
     CUE_CODE},
    {"calculate compute solve equation equations sum total how_many how_much "
     "percent percentage ratio fraction fractions average multiply divide divided "
     "times plus minus integer integers prime digits number numbers probability "
     "derivative integral matrix vector polynomial square root roots cost costs "
     "dollars price profit each per remainder twice half triple double area volume "
     "perimeter speed hours minutes miles km kg pounds value evaluate simplify "
     "geometry algebra arithmetic modulo factor factors triangle circle radius "
     "interest rate",
     CUE_MATH},
    {"why explain reason reasoning prove proof because therefore logic logical "
     "infer inference deduce step_by step-by-step think analyze analyse argue "
     "argument justify implication implies contradiction assume assumption "
     "hypothesis puzzle riddle paradox conclude conclusion cause effect evaluate "
     "critique consequences",
     CUE_REASON},
    {"extract extraction list parse identify find retrieve table csv json yaml "
     "field fields entities entity names dates format formatted output key values "
     "return_only structured classify categorize label tag",
     CUE_EXTRACT},
    {"summarize summarise summary summarization tl_dr tldr condense shorten brief "
     "overview gist key_points main_points abstract recap outline",
     CUE_SUMMARY},
    {"translate translation translated french spanish german chinese japanese "
     "korean italian portuguese russian arabic hindi english language into_english "
     "into_french into_spanish",
     CUE_TRANSLATE},
    {"hi hello hey thanks thank you how_are joke jokes chat lol favorite favourite "
     "fun hobby weather weekend feel feeling good_morning bye cool nice",
     CUE_CHAT},
    {"write compose draft essay story poem poetry blog post email letter article "
     "rewrite paraphrase narrative creative haiku song lyrics slogan tweet script "
     "headline persuasive tone style",
     CUE_WRITE},
    {"pretend roleplay role-play act_as imagine persona character embody you_are "
     "play_the scenario dialogue conversation",
     CUE_ROLEPLAY},
    {"physics chemistry biology quantum molecule molecules atom atoms electron "
     "energy force mass velocity acceleration cell cells gene genetic dna protein "
     "enzyme reaction acid thermodynamics entropy circuit voltage theorem lemma "
     "group ring field topology statistics statistical regression variance "
     "hypothesis experiment clinical disease patient diagnosis anatomy nerve "
     "muscle astronomy planet orbit galaxy computer network electrical engineering "
     "machine learning neural",
     CUE_STEM},
    {"history historical philosophy philosopher ethics moral law legal court "
     "constitution amendment government policy economics economy market political "
     "religion religious culture literature novel author poet century war "
     "revolution empire society social psychology sociology jurisprudence contract "
     "plaintiff defendant statute",
     CUE_HUMAN},
    {"carefully rigorous rigorously detailed thorough thoroughly comprehensive "
     "in-depth prove derive advanced complex complicated tricky difficult hard "
     "challenging optimal optimize edge_cases formal formally nuanced",
     CUE_HARD},
    {"simple simply quick quickly briefly short easy basic just only one_word "
     "one_sentence yes_or no tiny",
     CUE_EASY},
    {"must exactly least at_least at_most without each every only must_not "
     "should_not ensure constraint constraints requirement requirements "
     "following rules format limit no_more",
     CUE_CONSTRAINT},
    {"what who when where which how whom whose", CUE_QWORD},
    {"step steps step-by-step stepwise walkthrough walk_through first_then procedure", CUE_STEPS},
    {"words word sentences sentence paragraphs paragraph pages page lines line tokens characters "
     "bullets bullet points items examples",
     CUE_LENUNIT},
};

#define LEX_SLOTS 2048u /* ~700 entries; keys and masks in separate arrays (20 KB, L1-friendly) */

static uint64_t lex_h[LEX_SLOTS];
static uint32_t lex_mask[LEX_SLOTS];
_Static_assert(CUE_COUNT_ <= 32, "lex_mask holds one bit per cue");
static pthread_once_t lex_once = PTHREAD_ONCE_INIT;

static uint64_t word_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h | 1; /* 0 marks an empty slot */
}

static uint64_t bigram_hash(uint64_t a, uint64_t b)
{
    return ((a * 0x9E3779B97F4A7C15ull) ^ (b + (b << 7))) | 1;
}

static void lex_insert(uint64_t h, int cue)
{
    uint32_t i = (uint32_t)(h >> 20) & (LEX_SLOTS - 1);
    for (;;) {
        if (lex_h[i] == 0) {
            lex_h[i] = h;
            lex_mask[i] = 1u << cue;
            return;
        }
        if (lex_h[i] == h) {
            lex_mask[i] |= 1u << cue;
            return;
        }
        i = (i + 1) & (LEX_SLOTS - 1);
    }
}

static void lex_build(void)
{
    for (size_t g = 0; g < GR_ARRAY_LEN(lexicon); g++) {
        const char *p = lexicon[g].words;
        while (*p) {
            while (*p == ' ')
                p++;
            const char *s = p;
            while (*p && *p != ' ')
                p++;
            if (p == s)
                continue;
            const char *us = memchr(s, '_', (size_t)(p - s));
            if (us) {
                uint64_t a = word_hash(s, (size_t)(us - s));
                uint64_t b = word_hash(us + 1, (size_t)(p - us - 1));
                lex_insert(bigram_hash(a, b), lexicon[g].cue);
            } else {
                lex_insert(word_hash(s, (size_t)(p - s)), lexicon[g].cue);
            }
        }
    }
}

static uint32_t lex_lookup(uint64_t h)
{
    uint32_t i = (uint32_t)(h >> 20) & (LEX_SLOTS - 1);
    for (;;) {
        if (lex_h[i] == h)
            return lex_mask[i];
        if (lex_h[i] == 0)
            return 0;
        i = (i + 1) & (LEX_SLOTS - 1);
    }
}

/* ---- text scan ---- */

#define SCAN_CAP 8192u       /* bytes of the last user message scanned for cues */
#define CHAR_NGRAM_CAP 1024u /* bytes of the question hashed as character trigrams (decision time) */
#define UNIQ_SLOTS 512u

/* Hashed n-gram counts of the question: word unigrams and bigrams (digits
 * folded to one token) and character trigrams (lower-cased, digits -> '0',
 * whitespace runs -> ' '), in GR_AUTO_NHASH buckets. */
typedef struct {
    uint16_t count[GR_AUTO_NHASH];
    uint16_t touched[GR_AUTO_NHASH];
    uint32_t ntouched, total;
} hash_acc;

static void hash_add(hash_acc *ha, uint64_t h)
{
    uint32_t b = (uint32_t)(h >> 40) & (GR_AUTO_NHASH - 1);
    if (ha->count[b] == 0)
        ha->touched[ha->ntouched++] = (uint16_t)b;
    if (ha->count[b] < UINT16_MAX)
        ha->count[b]++;
    ha->total++;
}

static void hash_chars(const char *t, size_t n, hash_acc *ha)
{
    uint32_t win = 0, have = 0;
    bool space = true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            if (space)
                continue;
            space = true;
            c = ' ';
        } else {
            space = false;
            if (c >= 'A' && c <= 'Z')
                c = (unsigned char)(c + 32);
            else if (c >= '0' && c <= '9')
                c = '0';
        }
        win = ((win << 8) | c) & 0xFFFFFFu;
        if (++have >= 3)
            hash_add(ha, ((uint64_t)win + 0x51ED27ull) * 0x9E3779B97F4A7C15ull);
    }
}

typedef struct {
    uint32_t chars, scanned, words, nonascii, digits, mathsym, codesym, newlines, qmarks;
    uint32_t wordchars, longwords, numbers, sentences, uniq;
    uint32_t cues[CUE_COUNT_];
    uint32_t list_items; /* "\n1." / "\n2)" numbered lines */
    uint32_t asked_len;  /* largest N in "N words|sentences|..." */
    bool fence, mcq;
} scan_stats;

static inline bool is_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '\'' || c == '-';
}

static void scan_text(const char *t, size_t len, scan_stats *st, hash_acc *ha)
{
    uint32_t uniq[UNIQ_SLOTS];
    memset(uniq, 0, sizeof uniq);
    st->chars += (uint32_t)(len > UINT32_MAX ? UINT32_MAX : len);
    size_t n = len > SCAN_CAP ? SCAN_CAP : len;
    st->scanned += (uint32_t)n;
    uint64_t prev = 0;
    char w[32];
    size_t i = 0;
    int mcq_marks = 0;
    uint32_t last_num = 0;
    bool num_before = false; /* the previous token was a number */
    while (i < n) {
        unsigned char c = (unsigned char)t[i];
        if (c >= 0x80) {
            /* count UTF-8 lead bytes only: one per non-ASCII character */
            if ((c & 0xC0) != 0x80)
                st->nonascii++;
            prev = 0;
            i++;
            continue;
        }
        if (is_word_byte(c) && c != '-' && c != '\'') {
            size_t s = i, wl = 0;
            bool alldigit = true;
            while (i < n && is_word_byte((unsigned char)t[i])) {
                unsigned char d = (unsigned char)t[i];
                if (d >= '0' && d <= '9')
                    st->digits++;
                else
                    alldigit = false;
                if (wl < sizeof w)
                    w[wl++] = (char)(d >= 'A' && d <= 'Z' ? d + 32 : d);
                i++;
            }
            size_t rl = i - s;
            /* trim trailing punctuation that is part of the word class */
            while (wl > 0 && (w[wl - 1] == '-' || w[wl - 1] == '\''))
                wl--;
            st->words++;
            st->wordchars += (uint32_t)rl;
            if (alldigit) {
                st->numbers++;
                hash_add(ha, word_hash("0", 1));
                prev = 0;
                last_num = 0;
                for (size_t k = 0; k < wl && k < 9; k++)
                    last_num = last_num * 10 + (uint32_t)(w[k] - '0');
                num_before = true;
                continue;
            }
            if (rl >= 9)
                st->longwords++;
            uint64_t h = word_hash(w, wl);
            uint32_t m = lex_lookup(h);
            hash_add(ha, h);
            if (prev) {
                uint64_t bh = bigram_hash(prev, h);
                m |= lex_lookup(bh);
                hash_add(ha, bh * 0xC2B2AE3D27D4EB4Full);
            }
            if (num_before && (m & (1u << CUE_LENUNIT)) && last_num > st->asked_len)
                st->asked_len = last_num;
            num_before = false;
            for (int k = 0; m; k++, m >>= 1)
                if (m & 1)
                    st->cues[k]++;
            uint32_t us = (uint32_t)(h >> 32) & (UNIQ_SLOTS - 1);
            for (uint32_t probe = 0; probe < UNIQ_SLOTS; probe++) {
                uint32_t slot = (us + probe) & (UNIQ_SLOTS - 1);
                uint32_t tag = (uint32_t)h | 1u;
                if (uniq[slot] == tag)
                    break;
                if (uniq[slot] == 0) {
                    if (st->uniq < UNIQ_SLOTS / 2) {
                        uniq[slot] = tag;
                        st->uniq++;
                    }
                    break;
                }
            }
            prev = h;
            continue;
        }
        switch (c) {
        case '\n':
            st->newlines++;
            /* multiple-choice layout: "\nA. " / "\nB) " */
            if (i + 2 < n && t[i + 1] >= 'A' && t[i + 1] <= 'E' &&
                (t[i + 2] == '.' || t[i + 2] == ')'))
                mcq_marks++;
            if (i + 2 < n && t[i + 1] >= '1' && t[i + 1] <= '9' && (t[i + 2] == '.' || t[i + 2] == ')'))
                st->list_items++;
            break;
        case '?':
            st->qmarks++;
            st->sentences++;
            break;
        case '.':
        case '!':
            if (i + 1 >= n || t[i + 1] == ' ' || t[i + 1] == '\n')
                st->sentences++;
            break;
        case '+':
        case '*':
        case '/':
        case '=':
        case '^':
        case '%':
        case '<':
        case '>':
        case '$':
            st->mathsym++;
            break;
        case '{':
        case '}':
        case '[':
        case ']':
        case '(':
        case ')':
        case ';':
        case '#':
            st->codesym++;
            break;
        case '`':
            if (i + 2 < n && t[i + 1] == '`' && t[i + 2] == '`')
                st->fence = true;
            break;
        default:
            break;
        }
        if (c != ' ' && c != '\t' && c != '"' && c != ',')
            prev = 0; /* bigrams do not span punctuation */
        i++;
    }
    if (mcq_marks >= 3)
        st->mcq = true;
    hash_chars(t, n > CHAR_NGRAM_CAP ? CHAR_NGRAM_CAP : n, ha);
}

/* ---- request walk ---- */

typedef struct {
    const char *last_user;
    size_t last_user_len;
    uint32_t user_turns, msgs, assistant_chars, other_chars, images;
    bool system;
} walk_stats;

static void content_text(const cJSON *content, walk_stats *ws, const char **txt, size_t *len,
                         uint32_t *chars)
{
    *txt = NULL;
    *len = 0;
    if (cJSON_IsString(content) && content->valuestring) {
        *txt = content->valuestring;
        *len = strlen(content->valuestring);
        *chars += (uint32_t)*len;
        return;
    }
    if (!cJSON_IsArray(content))
        return;
    const cJSON *part;
    cJSON_ArrayForEach(part, content)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        const char *ts = cJSON_IsString(type) ? type->valuestring : NULL;
        if (ts && (strcmp(ts, "image_url") == 0 || strcmp(ts, "image") == 0 ||
                   strcmp(ts, "input_image") == 0)) {
            ws->images++;
            continue;
        }
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (cJSON_IsString(text) && text->valuestring) {
            size_t l = strlen(text->valuestring);
            *chars += (uint32_t)l;
            if (!*txt || l > *len) { /* the longest text part represents the message */
                *txt = text->valuestring;
                *len = l;
            }
        }
    }
}

static float lg(double x, double scale) { return (float)(log1p(x) / scale); }

static void finish(const scan_stats *st, const hash_acc *ha, const walk_stats *ws, bool tools,
                   bool json, gr_auto_features *f)
{
    float *x = f->x;
    memset(f->x, 0, sizeof f->x);
    /* hashed n-grams, term frequency normalised by sqrt(total) */
    f->nh = ha->ntouched;
    double norm = ha->total ? 1.0 / sqrt((double)ha->total) : 0.0;
    for (uint32_t i = 0; i < ha->ntouched; i++) {
        f->hidx[i] = ha->touched[i];
        f->hval[i] = (float)((double)ha->count[ha->touched[i]] * norm);
    }
    double sc = st->scanned ? (double)st->scanned : 1.0;
    double words = st->words ? (double)st->words : 1.0;
    x[0] = 1.0f;
    x[1] = lg(st->chars, 8.0);
    x[2] = lg(st->words, 7.0);
    x[3] = lg(ws->user_turns > 1 ? ws->user_turns - 1 : 0, 2.0);
    x[4] = ws->system ? 1.0f : 0.0f;
    x[5] = tools ? 1.0f : 0.0f;
    x[6] = ws->images ? 1.0f : 0.0f;
    x[7] = json ? 1.0f : 0.0f;
    x[8] = (float)((double)st->nonascii / (sc + 1.0));
    x[9] = (float)((double)st->digits / sc * 5.0);
    x[10] = (float)((double)st->mathsym / sc * 20.0);
    x[11] = (float)((double)st->codesym / sc * 20.0);
    x[12] = lg(st->newlines, 4.0);
    x[13] = lg(st->qmarks, 2.0);
    x[14] = (float)((double)st->wordchars / words / 10.0);
    x[15] = (float)((double)st->longwords / words * 4.0);
    x[16] = st->mcq ? 1.0f : 0.0f;
    x[17] = lg(st->numbers, 3.0);
    for (int k = 0; k <= CUE_QWORD; k++)
        x[18 + k] = lg(st->cues[k], 2.0); /* 18..32 */
    x[33] = st->fence ? 1.0f : 0.0f;
    x[34] = lg(ws->assistant_chars, 8.0);
    x[35] = (float)((double)st->uniq / words);
    x[36] = lg(st->sentences, 3.0);
    x[37] = (float)((double)st->cues[CUE_MATH] / words * 10.0);
    x[38] = lg(st->cues[CUE_STEPS] + st->list_items, 2.0); /* steps asked / numbered steps */
    x[39] = lg(st->asked_len, 5.0);                         /* "in 300 words", "5 bullet points" */

    /* task type: argmax of task cues, multiple-choice -> knowledge */
    static const struct {
        int cue;
        gr_task_type t;
    } map[] = {{CUE_CODE, GR_TASK_CODE},       {CUE_MATH, GR_TASK_MATH},
               {CUE_REASON, GR_TASK_REASONING}, {CUE_EXTRACT, GR_TASK_EXTRACTION},
               {CUE_SUMMARY, GR_TASK_SUMMARIZATION}, {CUE_TRANSLATE, GR_TASK_TRANSLATION},
               {CUE_CHAT, GR_TASK_CHITCHAT},   {CUE_WRITE, GR_TASK_WRITING},
               {CUE_ROLEPLAY, GR_TASK_ROLEPLAY}, {CUE_STEM, GR_TASK_KNOWLEDGE},
               {CUE_HUMAN, GR_TASK_KNOWLEDGE}};
    gr_task_type best = GR_TASK_GENERAL;
    uint32_t bestn = 0;
    for (size_t i = 0; i < GR_ARRAY_LEN(map); i++) {
        uint32_t v = st->cues[map[i].cue] * (map[i].cue == CUE_CODE && st->fence ? 3u : 1u);
        if (map[i].cue == CUE_MATH)
            v += st->numbers >= 3 ? 1u : 0u;
        if (v > bestn) {
            bestn = v;
            best = map[i].t;
        }
    }
    if (st->mcq)
        best = GR_TASK_KNOWLEDGE;
    f->task = best;
    f->prompt_chars = st->chars + ws->assistant_chars + ws->other_chars;
    f->images = ws->images;
    f->tools = tools;
    f->json_mode = json;
}

gr_status gr_route_auto_features(const cJSON *body, gr_auto_features *f)
{
    memset(f, 0, sizeof *f);
    if (!cJSON_IsObject(body))
        return GR_ERR_INVALID;
    pthread_once(&lex_once, lex_build);
    walk_stats ws;
    memset(&ws, 0, sizeof ws);
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(body, "messages");
    const cJSON *m;
    if (cJSON_IsArray(msgs)) {
        cJSON_ArrayForEach(m, msgs)
        {
            const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
            const char *r = cJSON_IsString(role) ? role->valuestring : "";
            const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
            const char *txt;
            size_t len;
            ws.msgs++;
            if (strcmp(r, "user") == 0) {
                uint32_t dummy = 0;
                content_text(content, &ws, &txt, &len, &dummy);
                ws.user_turns++;
                if (ws.last_user) /* earlier user turns count as context */
                    ws.other_chars += (uint32_t)ws.last_user_len;
                ws.last_user = txt;
                ws.last_user_len = len;
            } else if (strcmp(r, "assistant") == 0) {
                content_text(content, &ws, &txt, &len, &ws.assistant_chars);
            } else {
                if (strcmp(r, "system") == 0 || strcmp(r, "developer") == 0)
                    ws.system = true;
                content_text(content, &ws, &txt, &len, &ws.other_chars);
            }
        }
    } else {
        const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(body, "prompt");
        if (cJSON_IsString(prompt) && prompt->valuestring) {
            ws.last_user = prompt->valuestring;
            ws.last_user_len = strlen(prompt->valuestring);
            ws.user_turns = 1;
        }
    }
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(body, "tools");
    const cJSON *functions = cJSON_GetObjectItemCaseSensitive(body, "functions");
    bool has_tools = (cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0) ||
                     (cJSON_IsArray(functions) && cJSON_GetArraySize(functions) > 0);
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(body, "response_format");
    const cJSON *rft = cJSON_GetObjectItemCaseSensitive(rf, "type");
    bool json = cJSON_IsString(rft) && rft->valuestring &&
                (strcmp(rft->valuestring, "json_object") == 0 ||
                 strcmp(rft->valuestring, "json_schema") == 0);

    scan_stats st;
    memset(&st, 0, sizeof st);
    hash_acc ha;
    ha.ntouched = ha.total = 0;
    memset(ha.count, 0, sizeof ha.count);
    size_t q0 = 0;
    if (ws.last_user) {
        q0 = gr_route_auto_question_start(ws.last_user, ws.last_user_len);
        ws.other_chars += (uint32_t)q0; /* the stripped examples are context */
        scan_text(ws.last_user + q0, ws.last_user_len - q0, &st, &ha);
    }
    finish(&st, &ha, &ws, has_tools, json, f);
    f->question_chars = st.chars;
    return GR_OK;
}

void gr_route_auto_features_text(const char *text, size_t len, gr_auto_features *f)
{
    pthread_once(&lex_once, lex_build);
    walk_stats ws;
    memset(&ws, 0, sizeof ws);
    ws.user_turns = 1;
    scan_stats st;
    memset(&st, 0, sizeof st);
    hash_acc ha;
    ha.ntouched = ha.total = 0;
    memset(ha.count, 0, sizeof ha.count);
    size_t q0 = text ? gr_route_auto_question_start(text, len) : 0;
    if (text)
        scan_text(text + q0, len - q0, &st, &ha);
    memset(f, 0, sizeof *f);
    ws.other_chars = (uint32_t)q0;
    finish(&st, &ha, &ws, false, false, f);
    f->question_chars = st.chars;
}

/* ---- the actual question ---- */

/* An answer marker at a line start: "Answer:", "A:", "答案：" / "答案:". Returns
 * the offset just after it, or 0. */
static size_t answer_marker(const char *t, size_t len, size_t i)
{
    static const char *const marks[] = {"answer:", "a:", "\xe7\xad\x94\xe6\xa1\x88\xef\xbc\x9a",
                                        "\xe7\xad\x94\xe6\xa1\x88:"};
    for (size_t k = 0; k < GR_ARRAY_LEN(marks); k++) {
        size_t ml = strlen(marks[k]);
        if (i + ml > len)
            continue;
        size_t j = 0;
        while (j < ml && (char)tolower((unsigned char)t[i + j]) == marks[k][j])
            j++;
        if (j == ml)
            return i + ml;
    }
    return 0;
}

size_t gr_route_auto_question_start(const char *t, size_t len)
{
    if (!t || len > SCAN_CAP * 8) /* very long inputs: scan the tail region only */
        return t && len > SCAN_CAP ? len - SCAN_CAP : 0;
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (i > 0 && t[i - 1] != '\n')
            continue;
        size_t a = answer_marker(t, len, i);
        if (!a)
            continue;
        /* answered? non-blank text after the marker, then a blank line */
        size_t k = a;
        bool text = false;
        while (k < len && !(t[k] == '\n' && k + 1 < len && t[k + 1] == '\n')) {
            if (!isspace((unsigned char)t[k]))
                text = true;
            k++;
        }
        if (text && k < len) {
            k += 2;
            if (len - k >= 20) /* keep at least a question's worth of text */
                start = k;
        }
        i = k - 1; /* resume at the next block: linear in len */
    }
    return start;
}

/* ---- model ---- */

/* A fixed, documented prior on the difficulty for what exam-style benchmark
 * data cannot teach (it has no small talk and few explicit hints): trivially
 * short or small-talk requests are easier; explicit proof/derivation/analysis
 * asks and hard hints are harder. The learned difficulty is fitted with this
 * prior as a fixed offset (train.mjs), so it only corrects it. */
double gr_route_auto_prior(const gr_auto_features *f)
{
    const float *x = f->x;
    double z = 0.0;
    double words = expm1((double)x[2] * 7.0);
    if (words < 8.0)
        z -= 1.0 * (8.0 - words) / 8.0;
    if (x[24] > 0.0f && x[18] == 0.0f && x[19] == 0.0f && x[20] == 0.0f)
        z -= 0.8; /* small talk and nothing else */
    z += 0.6 * (double)x[20]; /* reasoning asks: prove, derive, explain why ... */
    z += 0.5 * (double)x[29]; /* hard hints: rigorous, detailed, complex ... */
    z -= 0.3 * (double)x[30]; /* easy hints: brief, simple, quick ... */
    return z;
}

void gr_route_auto_predict(const gr_auto_features *f, gr_auto_prediction *p)
{
    double z[GR_AUTO_NOUT];
    for (size_t o = 0; o < GR_AUTO_NOUT; o++)
        z[o] = 0.0;
    for (size_t i = 0; i < GR_AUTO_NFEAT; i++) {
        double xi = (double)f->x[i];
        if (xi == 0.0)
            continue;
        for (size_t o = 0; o < GR_AUTO_NOUT; o++)
            z[o] += (double)gr_auto_dense_w[i][o] * xi;
    }
    float acc[GR_AUTO_NOUT] = {0};
    for (uint32_t i = 0; i < f->nh; i++) {
        const int8_t *w = gr_auto_hash_w[f->hidx[i]];
        float v = f->hval[i];
        for (size_t o = 0; o < GR_AUTO_NOUT; o++)
            acc[o] += (float)w[o] * v;
    }
    for (size_t o = 0; o < GR_AUTO_NOUT; o++)
        z[o] += (double)acc[o] * (double)gr_auto_hash_scale[o];
    double mx = z[0];
    size_t top = 0;
    for (size_t k = 1; k < GR_SKILL_COUNT_; k++)
        if (z[k] > mx) {
            mx = z[k];
            top = k;
        }
    double sum = 0.0;
    for (size_t k = 0; k < GR_SKILL_COUNT_; k++) {
        p->skill[k] = exp(z[k] - mx);
        sum += p->skill[k];
    }
    for (size_t k = 0; k < GR_SKILL_COUNT_; k++)
        p->skill[k] /= sum;
    p->top = (gr_skill)top;
    p->difficulty = z[GR_AUTO_OUT_DIFFICULTY] + gr_route_auto_prior(f);
    /* answer length: a documented prior per skill (typical chat answers, tokens:
     * knowledge 120, reasoning 150, math 250, code 350, instruction 400, language
     * 150) that the learned part corrects (short for "answer with one letter"...) */
    static const double len_prior[GR_SKILL_COUNT_] = {120, 150, 250, 350, 400, 150};
    double ll = z[GR_AUTO_OUT_LOGLEN];
    for (size_t k = 0; k < GR_SKILL_COUNT_; k++)
        ll += p->skill[k] * log1p(len_prior[k]);
    if (ll < 0.0)
        ll = 0.0;
    if (ll > 9.0) /* e^9 ~ 8k tokens */
        ll = 9.0;
    p->out_tokens = expm1(ll);
}

static double logit_clamped(double a)
{
    if (a < 0.01)
        a = 0.01;
    if (a > 0.99)
        a = 0.99;
    return log(a / (1.0 - a));
}

double gr_route_auto_quality(const gr_auto_prediction *p, const float ability[GR_SKILL_COUNT_], double bias)
{
    double z = 0.0;
    for (size_t k = 0; k < GR_SKILL_COUNT_; k++)
        z += p->skill[k] * logit_clamped((double)ability[k]);
    z = (double)gr_auto_alpha * z + bias - p->difficulty;
    if (z > 30.0)
        z = 30.0;
    if (z < -30.0)
        z = -30.0;
    return 1.0 / (1.0 + exp(-z));
}

double gr_route_auto_expected_cost(const gr_auto_prediction *p, uint32_t prompt_tokens,
                                   uint32_t max_output_tokens, int64_t in_uusd_per_mtok,
                                   int64_t out_uusd_per_mtok, int64_t per_request_uusd)
{
    double out = p->out_tokens;
    if (max_output_tokens && out > (double)max_output_tokens)
        out = (double)max_output_tokens;
    return ((double)in_uusd_per_mtok * (double)prompt_tokens + (double)out_uusd_per_mtok * out) / 1e12 +
           (double)per_request_uusd / 1e6;
}

double gr_route_auto_knob_to_usd(double knob)
{
    if (!(knob > 0.0))
        return 0.0;
    if (knob >= 1.0)
        return INFINITY;
    return pow(10.0, 4.0 * knob - 3.5);
}

int gr_route_auto_choose(const double *q, const double *cost_usd, size_t n, double usd_per_quality)
{
    int best = -1;
    double bu = 0.0;
    bool inf = isinf(usd_per_quality);
    for (size_t i = 0; i < n; i++) {
        double u = inf ? q[i] : usd_per_quality * q[i] - cost_usd[i];
        if (best < 0 || u > bu + 1e-12 ||
            (fabs(u - bu) <= 1e-12 && cost_usd[i] < cost_usd[best])) {
            best = (int)i;
            bu = u;
        }
    }
    return best;
}

static const char *const task_names[GR_TASK_COUNT_] = {
    "general",     "code",    "math",      "reasoning", "extraction", "summarization",
    "translation", "chitchat", "writing", "roleplay",  "knowledge",
};

const char *gr_route_auto_task_name(gr_task_type t)
{
    return (unsigned)t < GR_TASK_COUNT_ ? task_names[t] : "general";
}

static const char *const feat_names[GR_AUTO_NFEAT] = {
    "bias",          "len_chars",     "len_words",     "depth",        "has_system",
    "has_tools",     "has_images",    "json_mode",     "nonascii",     "digit_share",
    "mathsym_share", "codesym_share", "newlines",      "qmarks",       "avg_word_len",
    "longword_share", "mcq",          "numbers",       "cue_code",     "cue_math",
    "cue_reason",    "cue_extract",   "cue_summary",   "cue_translate", "cue_chat",
    "cue_write",     "cue_roleplay",  "cue_stem",      "cue_humanities", "hint_hard",
    "hint_easy",     "cue_constraint", "cue_qword",    "code_fence",   "prior_assistant",
    "type_token",    "sentences",     "math_density",  "steps_asked",  "answer_len_asked",
};

const char *gr_route_auto_feature_name(size_t i)
{
    return i < GR_AUTO_NFEAT ? feat_names[i] : "?";
}

static const char *const skill_names[GR_SKILL_COUNT_] = {
    "knowledge", "reasoning", "math", "code", "instruction", "language",
};

const char *gr_route_auto_skill_name(gr_skill s)
{
    return (unsigned)s < GR_SKILL_COUNT_ ? skill_names[s] : "knowledge";
}
