"""The experiment's outputs for people: paper-layout tables, figures and a self-contained
``report.html``. Reads results and files; trains and evaluates nothing.

- tables: ``sportanim.eval.tables`` (Table 1 and Table 2, Markdown, CSV and JSON);
- ``figures``: Figure 2 (frames of each model beside ground truth and skeletons) and
  training curves, as PNG;
- ``html``: one HTML file with everything embedded (base64), which opens offline.
"""
