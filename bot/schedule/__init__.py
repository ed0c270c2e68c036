"""The nightly loop: curate voted mascots, fine-tune on the engine, gate, promote or keep.

config     ScheduleConfig: config.toml's [schedule] as one frozen dataclass
curation   pure: rank by the Wilson lower bound, per-value quotas, negatives; items for the job
gate       pure: promote only if KID, attribute precision and the preference check allow
nightly    one run, start to finish, under a lease in the store; its engine calls are
           EngineClient's (start_finetune, job, promote, rollback, versions)
scheduler  APScheduler cron + catch-up of missed runs; implements core.Maintenance
"""
