/*
 * eng_farm.c - the engine's services, farm and DAM ports: the service table by (VIP, vport),
 * the choice of a real as weboslb/engine/farm.py and metrics.py make it (roundrobin,
 * leastconns, hash; a backup standing in is the slow path's), the counters a session moves,
 * and the set of DAM source ports in use (vma.py DamPorts), shared with the slow path.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eng_int.h"
#include "keyhash.h"
#include "mix.h"

/* ---- services ----------------------------------------------------------------------------- */

static uint64_t svc_hash(uint8_t family, const uint8_t *vip, uint16_t vport)
{
    uint64_t w0, w1;
    memcpy(&w0, vip, 8);
    memcpy(&w1, vip + 8, 8);
    uint64_t h = (w0 ^ ((uint64_t)vport << 8 | family)) * 0x9E3779B97F4A7C15ULL;
    h ^= w1 * 0xC2B2AE3D27D4EB4FULL;
    return h ^ h >> 31;
}

const struct eng_service *eng_svc_find(const eng *e, uint8_t family, const uint8_t *vip,
                                          uint16_t vport, uint16_t *number)
{
    if (e->nsvcs == 0)
        return NULL;
    for (uint64_t pos = svc_hash(family, vip, vport) & e->svc_mask;;
         pos = (pos + 1) & e->svc_mask) {
        uint32_t v = e->svc_index[pos];
        if (v == 0)
            return NULL;
        const struct eng_service *s = &e->svcs[v - 1];
        if (s->vport == vport && s->family == family && !memcmp(s->vip, vip, 16)) {
            *number = (uint16_t)(v - 1);
            return s;
        }
    }
}

int eng_set_services(eng *e, const struct eng_service *s, uint32_t n)
{
    if (e == NULL || (n && s == NULL) || n >= 65535)
        return ENG_EINVAL;
    for (uint32_t i = 0; i < n; i++)
        if ((s[i].family != 4 && s[i].family != 6) || s[i].name_len > ENG_NAME_MAX ||
            s[i].pbind >= ENG_PBINDS || s[i].urlhash > ENG_KEY_MAX)
            return ENG_EINVAL;
    uint64_t slots = 8;
    while (slots < 4 * (uint64_t)n)
        slots <<= 1;
    struct eng_service *copy = n ? malloc(n * sizeof *copy) : NULL;
    uint32_t *index = calloc(slots, sizeof *index);
    if ((n && copy == NULL) || index == NULL) {
        free(copy);
        free(index);
        return ENG_ENOMEM;
    }
    if (n)
        memcpy(copy, s, n * sizeof *copy);
    for (uint32_t i = 0; i < n; i++) {   /* a duplicate (VIP, vport): the first one serves */
        uint64_t pos = svc_hash(copy[i].family, copy[i].vip, copy[i].vport) & (slots - 1);
        int dup = 0;
        for (; index[pos]; pos = (pos + 1) & (slots - 1)) {
            const struct eng_service *o = &copy[index[pos] - 1];
            dup |= o->vport == copy[i].vport && o->family == copy[i].family &&
                   !memcmp(o->vip, copy[i].vip, 16);
        }
        if (!dup)
            index[pos] = i + 1;
    }
    struct vip_ftp *vf = malloc((n ? n : 1) * sizeof *vf);
    uint32_t nvf = 0;
    if (vf == NULL) {
        free(copy);
        free(index);
        return ENG_ENOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {  /* services.Services.ftp_data: the first, in order */
        if (!copy[i].ftp)
            continue;
        uint32_t k = 0;
        while (k < nvf && !(vf[k].family == copy[i].family && !memcmp(vf[k].vip, copy[i].vip, 16)))
            k++;
        if (k == nvf) {
            memcpy(vf[nvf].vip, copy[i].vip, 16);
            vf[nvf].family = copy[i].family;
            vf[nvf++].svc = (uint16_t)i;
        }
    }
    free(e->svcs);
    free(e->svc_index);
    free(e->vip_ftp);
    e->svcs = copy;
    e->nsvcs = n;
    e->svc_index = index;
    e->svc_mask = slots - 1;
    e->vip_ftp = vf;
    e->nvip_ftp = nvf;
    return 0;
}

const struct eng_service *eng_ftp_of(const eng *e, uint8_t family, const uint8_t *vip,
                                        uint16_t *number)
{
    for (uint32_t k = 0; k < e->nvip_ftp; k++)
        if (e->vip_ftp[k].family == family && !memcmp(e->vip_ftp[k].vip, vip, 16)) {
            *number = e->vip_ftp[k].svc;
            return &e->svcs[*number];
        }
    return NULL;
}

/* ---- the farm ----------------------------------------------------------------------------- */

int eng_set_farm(eng *e, const struct eng_farm *f)
{
    if (e == NULL || f == NULL || f->nreals > ENG_NO_SLOT || f->ngroups > 65535 ||
        (f->nreals && (!f->reals || !f->current || !f->total || !f->highest || !f->octets ||
                       !f->used || !f->response || !f->load || !f->load_at || !f->up ||
                       !f->weight || !f->maxcon || !f->backup)) ||
        (f->ngroups && (!f->groups || !f->turn || !f->group_up)) ||
        (f->nmembers && !f->members) || (f->nsched && !f->sched) || !f->serial ||
        !f->unheld || (f->nvirts && f->nreals &&
                       (!f->vcurrent || !f->vtotal || !f->vhighest || !f->voctets || !f->vused)))
        return ENG_EINVAL;
    for (uint32_t g = 0; g < f->ngroups; g++) {
        const struct eng_group *gr = &f->groups[g];
        if ((uint64_t)gr->first + gr->count > f->nmembers ||
            (uint64_t)gr->sched_first + gr->sched_len > f->nsched)
            return ENG_EINVAL;
        for (uint32_t m = 0; m < gr->count; m++)
            if (f->members[gr->first + m] >= f->nreals)
                return ENG_EINVAL;
        for (uint32_t k = 0; k < gr->sched_len; k++)
            if (f->sched[gr->sched_first + k] >= gr->count)
                return ENG_EINVAL;
    }
    for (uint32_t r = 0; r < f->nreals; r++)
        if (f->backup[r] >= (int32_t)f->nreals)
            return ENG_EINVAL;
    size_t rb = f->nreals * sizeof(struct eng_real), gb = f->ngroups * sizeof(struct eng_group);
    struct eng_real *reals = malloc(rb ? rb : 1);
    struct eng_group *groups = malloc(gb ? gb : 1);
    uint16_t *members = malloc(f->nmembers ? f->nmembers * 2 : 1);
    uint16_t *sched = malloc(f->nsched ? f->nsched * 2 : 1);
    if (!reals || !groups || !members || !sched) {
        free(reals), free(groups), free(members), free(sched);
        return ENG_ENOMEM;
    }
    memcpy(reals, f->reals, rb);
    memcpy(groups, f->groups, gb);
    memcpy(members, f->members, f->nmembers * 2);
    memcpy(sched, f->sched, f->nsched * 2);
    for (uint32_t i = 0; i < 65536; i++)
        e->code_slot[i] = ENG_NO_SLOT;
    for (uint32_t r = f->nreals; r-- > 0;)
        e->code_slot[reals[r].code] = (uint16_t)r;
    free(e->reals), free(e->groups), free(e->members), free(e->sched);
    e->reals = reals;
    e->groups = groups;
    e->members = members;
    e->sched = sched;
    e->farm = *f;
    return 0;
}

int eng_set_params(eng *e, const struct eng_params *p)
{
    if (e == NULL || p == NULL || p->spcount == 0)
        return ENG_EINVAL;
    e->params = *p;
    e->configured = 1;
    return 0;
}

int eng_set_table(eng *e, uint32_t kind, pst_table *table)
{
    if (e == NULL || kind < PST_IPV4 || kind > PST_URLHASH)
        return ENG_EINVAL;
    e->tables[kind] = table;
    return 0;
}

/* metrics.py _schedule, one step at a time: the cycle position `at` of the smooth weighted
 * round robin over n weights (nginx's), or -1 when that is too much work here. */
static int rr_pick(const int64_t *w, uint32_t n, uint64_t turn)
{
    int64_t total = 0, cur[ENG_GROUP_MAX];
    for (uint32_t i = 0; i < n; i++) {
        total += w[i];
        cur[i] = 0;
    }
    if ((uint64_t)total * n > RR_WORK_MAX)
        return -1;
    uint64_t steps = turn % (uint64_t)total;
    int best = 0;
    for (uint64_t s = 0; s <= steps; s++) {
        best = 0;
        for (uint32_t i = 0; i < n; i++) {
            cur[i] += w[i];
            if (cur[i] > cur[best])
                best = (int)i;
        }
        cur[best] -= total;
    }
    return best;
}

static uint64_t digest1(const uint8_t *key, size_t n)
{
    mix_b2 s;
    mix_b2_init(&s);
    mix_b2_part(&s, key, n);
    return mix_b2_final(&s);
}

/* Farm._select for a group the engine can serve alone: its reals that can take the
 * connection (a real that cannot is skipped, unless its backup could stand in: the slow
 * path's case), the group's metric over them.  Reads only. */
int eng_choose_real(const eng *e, uint32_t g, const uint8_t *key, size_t klen,
                       uint16_t *slot)
{
    const struct eng_group *gr = &e->groups[g];
    const struct eng_farm *f = &e->farm;
    uint16_t cand[ENG_GROUP_MAX];
    int64_t w[ENG_GROUP_MAX];
    uint32_t n = 0;
    int whole = 1;
    if (gr->metric == ENG_METRIC_SLOW || gr->count > ENG_GROUP_MAX)
        return SEL_SLOW;
    if (f->group_up[g]) {
        for (uint32_t m = 0; m < gr->count; m++) {
            uint16_t r = e->members[gr->first + m];
            if (eng_available(e, r)) {
                cand[n] = r;
                w[n++] = eng_weight_of(e, r);
                continue;
            }
            whole = 0;
            int32_t b = f->backup[r];
            if (b >= 0 && eng_available(e, (uint32_t)b))
                return SEL_SLOW;    /* a backup or overflow server stands in */
        }
    }
    if (n == 0)
        return gr->backup ? SEL_SLOW : SEL_NONE;
    uint64_t turn = (uint64_t)f->turn[g];
    int i = 0;
    switch (gr->metric) {
    case ENG_METRIC_ROUNDROBIN:
        if (whole && gr->sched_len)
            i = e->sched[gr->sched_first + turn % gr->sched_len];
        else if ((i = rr_pick(w, n, turn)) < 0)
            return SEL_SLOW;
        break;
    case ENG_METRIC_LEASTCONNS: {   /* metrics._least: lowest current/weight, ties in turn */
        double best = INFINITY, score[ENG_GROUP_MAX];
        for (uint32_t k = 0; k < n; k++) {
            score[k] = (double)f->current[cand[k]] / (double)w[k];
            if (score[k] < best)
                best = score[k];
        }
        uint64_t tm = turn % n, dist = n;
        for (uint32_t k = 0; k < n; k++) {
            uint64_t d = (k + n - tm) % n;
            if (score[k] == best && d < dist) {
                dist = d;
                i = (int)k;
            }
        }
        break;
    }
    case ENG_METRIC_HASH: {
        int64_t total = 0;
        for (uint32_t k = 0; k < n; k++)
            total += w[k];
        uint64_t point = digest1(key, klen) % (uint64_t)total;
        i = (int)n - 1;
        for (uint32_t k = 0; k < n; k++) {
            if (point < (uint64_t)w[k]) {
                i = (int)k;
                break;
            }
            point -= (uint64_t)w[k];
        }
        break;
    }
    default:
        return SEL_SLOW;
    }
    *slot = cand[i];
    return SEL_OK;
}

void eng_real_octets(eng *e, const ent_t *x, uint32_t n, double now)
{
    const struct eng_farm *f = &e->farm;
    uint32_t r = x->rslot;
    if (n == 0)
        return;
    f->octets[r] += n;
    f->used[r] = 1;
    if (e->reals[r].track_load) {         /* Farm.octets: the decayed load of the bandwidth metric */
        double load = f->load[r], at = f->load_at[r];
        if (now > at)
            load = load * exp(-(now - at) / 4.0);
        f->load[r] = load + n;
        f->load_at[r] = at > now ? at : now;
    }
    if (f->nvirts) {
        uint64_t v = eng_vrow(e, x);
        f->voctets[v] += n;
        f->vused[v] = 1;
    }
}

/* ---- DAM ports (vma.py DamPorts) ---------------------------------------------------------- */

/* The set of (client, port, real, real port) in use: open addressing at load <= 1/2,
 * backward-shift deletion, each slot keeping its key's hash (deletion rehashes nothing). */

static uint64_t dam_hash(const eng *e, const dam_t *k)
{
    return kh_sip(e->seed, (const uint8_t *)k, sizeof *k, sizeof *k, 1, 1);
}

static void dam_key(dam_t *k, const uint8_t *cip, uint8_t cfam, uint16_t port,
                    const uint8_t *rip, uint8_t rfam, uint16_t rport)
{
    memset(k, 0, sizeof *k);
    memcpy(k->cip, cip, cfam == 4 ? 4 : cfam == 6 ? 16 : 0);
    memcpy(k->rip, rip, rfam == 4 ? 4 : rfam == 6 ? 16 : 0);
    k->cfam = cfam ? cfam : 1;      /* 0 marks an empty slot */
    k->rfam = rfam;
    k->port = port;
    k->rport = rport;
}

static int64_t dam_find(const eng *e, const dam_t *k, uint64_t h)
{
    if (e->dam == NULL)
        return -1;
    for (uint64_t pos = h & e->dam_mask;; pos = (pos + 1) & e->dam_mask) {
        const dam_slot *d = &e->dam[pos];
        if (d->key.cfam == 0)
            return -1;
        if (d->h == h && !memcmp(&d->key, k, sizeof *k))
            return (int64_t)pos;
    }
}

static void dam_place(dam_slot *slots, uint64_t mask, const dam_t *k, uint64_t h)
{
    uint64_t pos = h & mask;
    while (slots[pos].key.cfam)
        pos = (pos + 1) & mask;
    slots[pos].key = *k;
    slots[pos].h = h;
}

static int dam_insert(eng *e, const dam_t *k, uint64_t h)
{
    if (e->dam == NULL || 2 * (e->dam_count + 1) > e->dam_mask + 1) {
        uint64_t slots = e->dam ? 2 * (e->dam_mask + 1) : 1024;
        dam_slot *nd = calloc(slots, sizeof *nd);
        if (nd == NULL)
            return ENG_ENOMEM;
        for (uint64_t i = 0; e->dam && i <= e->dam_mask; i++)
            if (e->dam[i].key.cfam)
                dam_place(nd, slots - 1, &e->dam[i].key, e->dam[i].h);
        free(e->dam);
        e->dam = nd;
        e->dam_mask = slots - 1;
    }
    dam_place(e->dam, e->dam_mask, k, h);
    e->dam_count++;
    return 0;
}

static void dam_erase(eng *e, uint64_t hole)
{
    uint64_t j = hole, mask = e->dam_mask;
    for (;;) {
        j = (j + 1) & mask;
        if (e->dam[j].key.cfam == 0)
            break;
        uint64_t home = e->dam[j].h & mask;
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            e->dam[hole] = e->dam[j];
            hole = j;
        }
    }
    memset(&e->dam[hole], 0, sizeof e->dam[hole]);
    e->dam_count--;
}

int32_t eng_dam_allocate(eng *e, uint32_t sp, const uint8_t *cip, uint8_t cfamily,
                         const uint8_t *rip, uint8_t rfamily, uint16_t rport)
{
    if (e == NULL || cip == NULL || rip == NULL || sp >= DAM_SPS || !e->configured)
        return ENG_EINVAL;
    int64_t step = e->params.spcount;
    int64_t first = DAM_FIRST + (((int64_t)sp - 1) % step + step) % step;
    int64_t span = (DAM_LAST - first) / step + 1;
    uint64_t k = e->dam_next[sp];
    dam_t key;
    for (int64_t j = 0; j < span; j++) {
        uint16_t port = (uint16_t)(first + (int64_t)(k % (uint64_t)span) * step);
        k++;
        dam_key(&key, cip, cfamily, port, rip, rfamily, rport);
        uint64_t h = dam_hash(e, &key);
        if (dam_find(e, &key, h) < 0) {
            if (dam_insert(e, &key, h) != 0)
                return ENG_ENOMEM;
            e->dam_next[sp] = k;
            return port;
        }
    }
    return 0;   /* every port of this SP is taken toward that real */
}

int eng_dam_release(eng *e, const uint8_t *cip, uint8_t cfamily, uint16_t port,
                    const uint8_t *rip, uint8_t rfamily, uint16_t rport)
{
    dam_t key;
    if (e == NULL || cip == NULL || rip == NULL)
        return ENG_EINVAL;
    dam_key(&key, cip, cfamily, port, rip, rfamily, rport);
    int64_t pos = dam_find(e, &key, dam_hash(e, &key));
    if (pos < 0)
        return 0;
    dam_erase(e, (uint64_t)pos);
    return 1;
}

void eng_dam_prefetch(const eng *e, const uint8_t *cip, uint8_t cfamily, uint16_t port,
                      const uint8_t *rip, uint8_t rfamily, uint16_t rport)
{
    dam_t key;
    if (e->dam == NULL)
        return;
    dam_key(&key, cip, cfamily, port, rip, rfamily, rport);
    __builtin_prefetch(&e->dam[dam_hash(e, &key) & e->dam_mask]);
}

uint64_t eng_dam_count(const eng *e)
{
    return e->dam_count;
}

void eng_dam_clear(eng *e)
{
    free(e->dam);
    e->dam = NULL;
    e->dam_mask = e->dam_count = 0;
    memset(e->dam_next, 0, DAM_SPS * sizeof *e->dam_next);
}


int eng_dam_check(const eng *e)
{
    uint64_t dam = 0;
    for (uint64_t i = 0; e->dam && i <= e->dam_mask; i++) {
        const dam_slot *d = &e->dam[i];
        if (!d->key.cfam)
            continue;
        dam++;
        if (d->h != dam_hash(e, &d->key) || dam_find(e, &d->key, d->h) != (int64_t)i)
            return 22;
    }
    if (dam != e->dam_count)
        return 23;
    return 0;
}
