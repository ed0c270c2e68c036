"""The nightly loop: curate voted mascots, fine-tune on the engine, gate, promote or keep.

config     ScheduleConfig: config.toml's [schedule] as one frozen dataclass
curation   pure: rank by the Wilson lower bound, per-value quotas, negatives
gate       pure: promote only if KID, attribute precision and the preference check allow
jobs       the engine calls a run makes (fine-tune job, promote, rollback, versions)
nightly    one run, start to finish, under a lease in the store
scheduler  APScheduler cron + catch-up of missed runs; implements core.Maintenance
"""
