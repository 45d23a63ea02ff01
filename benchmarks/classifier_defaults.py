"""Test accuracy of GDClassifier's defaults (and candidates) against SGDClassifier's defaults.

Three problems, each split 75/25 (stratified, ``random_state=0``) and standardised with
StandardScaler fitted on the training part: breast_cancer (2 classes), digits (10 classes) and a
10-class ``make_classification`` set (3000 samples, 20 features, 10 informative). Each estimator
is fitted with ``random_state`` 0, 1 and 2; the table prints the mean test accuracy and the worst.

Run: ``python benchmarks/classifier_defaults.py`` (about a minute on one core). Measured
(scikit-learn 1.6+, x86-64), mean / min test accuracy over the three seeds:

=============================  ===============  ===============  ===================
estimator                      breast_cancer    digits           make_classification
=============================  ===============  ===============  ===================
SGDClassifier()                0.9417 / 0.9161  0.9481 / 0.9467  0.2187 / 0.2133
GDClassifier() (log_loss)      0.9697 / 0.9650  0.9637 / 0.9622  0.3062 / 0.3000
loss="hinge"                   0.9557 / 0.9510  0.9541 / 0.9511  0.2307 / 0.1973
hinge, batch_size=None, 0.1    0.9580 / 0.9580  0.9556 / 0.9556  0.2773 / 0.2773
hinge, learning_rate=0.001     0.9510 / 0.9510  0.9622 / 0.9622  0.2538 / 0.2333
=============================  ===============  ===============  ===================

(The 10-class make_classification set, 10 informative features and 2 clusters per class, is hard
for any linear model.) GDClassifier's default loss is log_loss: the best row on every problem.
"""
import sys
import warnings

import numpy as np
from timing import ROOT  # noqa: F401  (puts this checkout first on sys.path)
from sklearn.datasets import load_breast_cancer, load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from gdfast import GDClassifier


def problems():
    yield "breast_cancer", *load_breast_cancer(return_X_y=True)
    yield "digits", *load_digits(return_X_y=True)
    yield "make_classification", *make_classification(n_samples=3000, n_features=20, n_informative=10,
                                                      n_classes=10, random_state=0)


CANDIDATES = {
    "SGDClassifier()": lambda seed: SGDClassifier(random_state=seed),
    "GDClassifier()": lambda seed: GDClassifier(random_state=seed),
    "GDClassifier(loss='hinge')": lambda seed: GDClassifier(loss="hinge", random_state=seed),
    "GDClassifier(loss='hinge', batch_size=None, lr=0.1)": lambda seed: GDClassifier(
        loss="hinge", batch_size=None, learning_rate=0.1, random_state=seed),
    "GDClassifier(loss='hinge', lr=0.001)": lambda seed: GDClassifier(loss="hinge", learning_rate=0.001,
                                                                     random_state=seed),
}


def main(names=None):
    print(f"{'problem':22s} {'estimator':52s} {'mean acc':>9s} {'min acc':>9s}")
    for problem, X, y in problems():
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
        scaler = StandardScaler().fit(X_tr)
        X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
        for name, make in CANDIDATES.items():
            if names and name not in names:
                continue
            scores = []
            for seed in range(3):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    scores.append(make(seed).fit(X_tr, y_tr).score(X_te, y_te))
            print(f"{problem:22s} {name:52s} {np.mean(scores):9.4f} {np.min(scores):9.4f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
