"""posediff-study's orchestration: a study spec becomes Ray Tune trials proposed and pruned by Optuna.

Rooms, and who may import whom (``tests/study/test_layers.py`` enforces it; ``docs/README.md`` §4):

    cli            thin Typer commands                      -> report, tune, spec, results, model
    report, tune   tables/plots; running a study on Ray     -> spec, results, model
    spec, results  reading/checking specs; Parquet/Optuna   -> model
    model          the lifter (never imports study)

Rooms of one layer never import each other (report never imports tune, spec never imports results).
"""
