/* Returning a burst's heap to the kernel: after the live SIP transactions have halved
 * since their peak, malloc_trim gives the freed pages back (ims_loop_trim_tick). */
#include "ims/loop.h"

#include <malloc.h>

#include <sofia-sip/nta.h>
#include <sofia-sip/nta_tag.h>

#include "ims/log.h"
#include "ims/util.h"

/* Below this many transactions (~2.5 MiB of messages) a trim is not worth a walk of
 * the heap. */
#define TRIM_MIN_PEAK 256

bool ims_loop_trim_due(ims_loop_trim_t *t, size_t live)
{
    if (live > t->peak)
        t->peak = live;
    if (t->peak < TRIM_MIN_PEAK || live > t->peak / 2)
        return false;
    t->peak = live;
    t->trims++;
    return true;
}

bool ims_loop_trim_tick(ims_loop_trim_t *t, struct nta_agent_s *agent)
{
    usize_t irq = 0, orq = 0;
    if (!agent)
        return false;
    nta_agent_get_stats(agent, NTATAG_S_IRQ_HASH_USED_REF(irq), NTATAG_S_ORQ_HASH_USED_REF(orq),
                        TAG_END());
    if (!ims_loop_trim_due(t, (size_t)irq + (size_t)orq))
        return false;
    uint64_t t0 = ims_now_ms();
    malloc_trim(0);
    IMS_DEBUG("heap trimmed in %llu ms (%zu live transactions)",
              (unsigned long long)(ims_now_ms() - t0), (size_t)irq + (size_t)orq);
    return true;
}
