"""Writes dpo_demo.json (120 pairs), dpo_demo_eval.json (40 held-out pairs) and kto_pairs_demo.json: one learnable preference.

Every chosen answer is a friendly, complete sentence that restates the question's subject; every rejected answer is
a curt dismissal. The subjects are disjoint between the first 120 pairs and the last 40, so a held-out split tests
whether the preference (not the facts) was learned. Run: python data/alignment/make_demo.py (deterministic).
"""

import json
import random
from pathlib import Path

SUBJECTS = [
    ("the moon", "orbits the Earth about once a month"),
    ("a bicycle", "moves when you push the pedals"),
    ("rain", "falls when clouds grow heavy with water"),
    ("a library", "lends books to its members"),
    ("bread", "is baked from flour, water and yeast"),
    ("a volcano", "erupts when magma reaches the surface"),
    ("the heart", "pumps blood through the body"),
    ("a compass", "points towards magnetic north"),
    ("snow", "forms when water vapour freezes in cold air"),
    ("a bridge", "carries a road over a river or valley"),
    ("coffee", "is brewed from roasted coffee beans"),
    ("a battery", "stores energy as chemical energy"),
    ("the sun", "is the star at the centre of our solar system"),
    ("a map", "shows places and the roads between them"),
    ("honey", "is made by bees from flower nectar"),
    ("a clock", "measures and shows the time"),
    ("a tree", "grows from a seed and makes its food from sunlight"),
    ("the ocean", "covers most of the Earth's surface"),
    ("a camera", "records images with light"),
    ("wind", "is air moving from high to low pressure"),
    ("a piano", "makes sound when hammers strike its strings"),
    ("salt", "is mostly sodium chloride"),
    ("a kite", "flies when the wind lifts it"),
    ("a fridge", "keeps food cold by pumping heat out"),
    ("glass", "is made by melting sand"),
    ("a river", "carries water from the hills to the sea"),
    ("the brain", "controls thought, memory and movement"),
    ("a telescope", "makes distant objects look closer"),
    ("milk", "comes from cows, goats and other mammals"),
    ("a candle", "gives light by burning wax"),
    ("an island", "is land surrounded by water"),
    ("a rainbow", "appears when sunlight is split by raindrops"),
    ("paper", "is made from wood pulp"),
    ("a desert", "gets very little rain"),
    ("a thermometer", "measures temperature"),
    ("cheese", "is made by curdling milk"),
    ("a lighthouse", "guides ships with its light"),
    ("ice", "is frozen water"),
    ("a magnet", "attracts iron and steel"),
    ("a seed", "can grow into a new plant"),
]
QUESTIONS = ["Can you tell me about {s}?", "What is {s}?", "Explain {s} to me.", "I want to learn about {s}.", "Describe {s}."]
CHOSEN = ["Sure, happy to help! {S} {f}. I hope this helps.", "Of course! {S} {f}. Let me know if you want more detail."]
REJECTED = ["No. Look it up yourself.", "Not my problem.", "Why would I tell you that?", "Figure it out on your own."]


def main() -> None:
    rng = random.Random(0)
    pairs = []
    for index, (subject, fact) in enumerate(SUBJECTS):
        for question in rng.sample(QUESTIONS, 4):
            pairs.append(
                {
                    "instruction": question.format(s=subject),
                    "input": "",
                    "chosen": rng.choice(CHOSEN).format(S=subject[0].upper() + subject[1:], f=fact),
                    "rejected": rng.choice(REJECTED),
                    "held_out": index >= 30,
                }
            )
    train = [pair for pair in pairs if not pair["held_out"]]
    held_out = [pair for pair in pairs if pair["held_out"]]
    rng.shuffle(train)
    rows = [{key: value for key, value in pair.items() if key != "held_out"} for pair in train + held_out]
    folder = Path(__file__).parent
    for name, part in (("dpo_demo.json", rows[: len(train)]), ("dpo_demo_eval.json", rows[len(train) :])):
        (folder / name).write_text(json.dumps(part, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    kto = []
    for row in rows[:120]:
        for answer, label in ((row["chosen"], True), (row["rejected"], False)):
            kto.append(
                {"messages": [{"role": "user", "content": row["instruction"]}, {"role": "assistant", "content": answer}], "label": label}
            )
    (folder / "kto_pairs_demo.json").write_text(json.dumps(kto, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
