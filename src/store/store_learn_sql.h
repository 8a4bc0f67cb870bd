/* store_learn_sql.h — internal to the store backends: the statements of the
 * ratings tables (route_feedback, route_learned; store.h feedback_put,
 * learned_add, learned_list), written once in the SQL both SQLite and
 * PostgreSQL accept ($N parameters, numbered in order of first use; the
 * upsert's target qualified by its table name). Not a public header. */
#ifndef GR_STORE_LEARN_SQL_H
#define GR_STORE_LEARN_SQL_H

#define GR_LEARN_MIX_COLS "w0,w1,w2,w3,w4,w5"
#define GR_LEARN_SUM_COLS "s0,s1,s2,s3,s4,s5,f0,f1,f2,f3,f4,f5,e0,e1,e2,e3,e4,e5"
#define GR_LEARN_SUM(c) c "=route_learned." c "+excluded." c

/* $1 request id -> model, score, predicted, w0..w5 */
#define GR_SQL_FEEDBACK_GET "SELECT model,score,predicted," GR_LEARN_MIX_COLS " FROM route_feedback WHERE request_id=$1"

/* $1 request id, $2 key id, $3 model ('' = none), $4 score, $5 predicted, $6..$11 w0..w5, $12 comment, $13 now (upsert) */
#define GR_SQL_FEEDBACK_PUT                                                                                        \
    "INSERT INTO route_feedback(request_id,key_id,model,score,predicted," GR_LEARN_MIX_COLS ",comment,created_ms,"  \
    "updated_ms) VALUES($1,NULLIF($2,''),NULLIF($3,''),$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$13)"                     \
    " ON CONFLICT(request_id) DO UPDATE SET key_id=excluded.key_id,model=excluded.model,"                          \
    "score=excluded.score,predicted=excluded.predicted,w0=excluded.w0,w1=excluded.w1,w2=excluded.w2,"             \
    "w3=excluded.w3,w4=excluded.w4,w5=excluded.w5,comment=excluded.comment,updated_ms=excluded.updated_ms"

/* $1 model, $2..$7 s0..s5, $8..$13 f0..f5, $14..$19 e0..e5, $20 ratings, $21 now: adds to the model's sums */
#define GR_SQL_LEARNED_ADD                                                                                         \
    "INSERT INTO route_learned(model," GR_LEARN_SUM_COLS ",ratings,updated_ms)"                                     \
    " VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21)"                          \
    " ON CONFLICT(model) DO UPDATE SET " GR_LEARN_SUM("s0") "," GR_LEARN_SUM("s1") "," GR_LEARN_SUM("s2") ","        \
    GR_LEARN_SUM("s3") "," GR_LEARN_SUM("s4") "," GR_LEARN_SUM("s5") "," GR_LEARN_SUM("f0") "," GR_LEARN_SUM("f1") \
    "," GR_LEARN_SUM("f2") "," GR_LEARN_SUM("f3") "," GR_LEARN_SUM("f4") "," GR_LEARN_SUM("f5") ","                \
    GR_LEARN_SUM("e0") "," GR_LEARN_SUM("e1") "," GR_LEARN_SUM("e2") "," GR_LEARN_SUM("e3") "," GR_LEARN_SUM("e4")  \
    "," GR_LEARN_SUM("e5") "," GR_LEARN_SUM("ratings") ",updated_ms=excluded.updated_ms"

/* -> model, s0..s5, f0..f5, e0..e5, ratings */
#define GR_SQL_LEARNED_LIST "SELECT model," GR_LEARN_SUM_COLS ",ratings FROM route_learned ORDER BY model"

#endif
