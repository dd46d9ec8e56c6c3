"""Scores reviews with a bag-of-words model. The shape of Azure ML's batch-scoring entry scripts:
init() parses --model with argparse and loads the model from that folder; run(mini_batch) gets a list of
local file paths and returns one string per file."""
import argparse
import json
import os

from azureml_user.parallel_run import EntryScript

weights = None
explanations = None


def init():
    global weights, explanations
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--explanations", required=True)
    args, _ = parser.parse_known_args()  # the runner's own flags share argv, as in Azure ML
    with open(os.path.join(args.model, "weights.json"), encoding="utf-8") as source:
        weights = json.load(source)
    explanations = args.explanations
    EntryScript().logger.info("loaded %d word weights from %s", len(weights), args.model)


def run(mini_batch):
    results = []
    for path in mini_batch:
        with open(path, encoding="utf-8") as source:
            words = source.read().lower().split()
        contributions = {word: weights[word] for word in set(words) if word in weights}
        score = sum(weights.get(word, 0.0) for word in words) / max(1, len(words))
        label = "positive" if score >= 0 else "negative"
        name = os.path.basename(path)
        # One explanation file per review, in the output folder bound by --explanations.
        with open(os.path.join(explanations, f"{name}.json"), "w", encoding="utf-8") as out:
            top = sorted(contributions.items(), key=lambda item: -abs(item[1]))[:3]
            json.dump({"review": name, "label": label, "score": round(score, 4), "top_words": top}, out)
        results.append(f"{name}: {label} {score:+.3f}")
    return results
