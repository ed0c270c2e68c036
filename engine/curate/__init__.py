"""The engine's half of learning from votes.

    request      POST /v1/jobs with ``curated``: validated into a three-step job
    curated_set  step 1: the curated data set (re-drawn from its model version, or the stored PNG)
                 and the voted set (liked and disliked images) for the preference model
    preference   a small model of what voters like, trained on the voted set with a held-out split
    compare      step 3: challenger vs champion (KID against the base data, attribute precision,
                 preference), written as the job's ``evaluation`` result

Step 2 is the ordinary fine-tune (``mascot-engine train --init-from ... --extra-data ...``).
Every step runs in a child process, so serving goes on.
"""
