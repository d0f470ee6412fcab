"""Writes test/fixtures/vqa_official.json: predicted answers and human answers (punctuation, number words,
articles, contractions, digit commas, periods, odd whitespace and Unicode) with the normalised prediction
and the accuracy the official VQA evaluation gives.

Takes the path of a copy of the official processPunctuation / processDigitArticle / per-question accuracy
(GT-Vision-Lab/VQA PythonEvaluationTools/vqaEvaluation/vqaEval.py, as a class VQAEval(contractions) with
accuracy(prediction, answers)). The contractions table is read from src/vqa.ts, so this checks the
normalisation logic, not the table's transcription:

    /usr/bin/python3 scripts/make_vqa_fixtures.py /tmp/metrics-ref/vqaEval.py
"""
import importlib.util
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location('vqaEval', sys.argv[1])
vqa = importlib.util.module_from_spec(spec)
spec.loader.exec_module(vqa)

source = open(os.path.join(HERE, '..', 'src', 'vqa.ts'), encoding='utf8').read()
table = source[source.index('const CONTRACTIONS'):source.index('};', source.index('const CONTRACTIONS'))]
pairs = re.findall(r'''(?:"([^"]+)"|'([^']+)'|([A-Za-z]+)):\s*(?:"([^"]+)"|'([^']+)')''', table)
contractions = {(a or b or c): (d or e) for a, b, c, d, e in pairs}
assert len(contractions) > 100, len(contractions)
evaluator = vqa.VQAEval(contractions)

PREDICTIONS = [
    'Two dogs.', 'The cat', 'a', 'none', 'dont', 'Im here', 'yes!', '1,000', 'red, white', 'red,white', '3.5',
    'no.', '  left\tside\n', 'black-and-white', 't-shirt - red', "what's", 'whats', 'youll', "isn't it?",
    'A man (left) & a woman', 'e.g. 10.5.3', '...', 'u.s.a.', 'Ten', 'twenty-one', 'on the table; yes',
    'He said "hi"', 'x=1+2', 'C:\\path', '@home #1', 'ñandú', 'ÇA VA', 'wait…', '１,２', 'a\u00a0b', 'a\u2003b',
    'a\u0085b', 'a\ufeffb', 'couldnt\'ve', 'yall', 'the the the', 'An apple', '100,000,000 people', '1,2, 3',
    '.'.join(['x'] * 40), 'one two three', 'ok?!', '[blue]', '{green}', '<tag>', 'under_score', 'back`tick',
]
HUMANS = [
    ['2', '2', '2', 'two', '3', '2 dogs', '2 dogs', 'dogs', '2', '2'],
    ['yes'] * 10,
    ['yes!'] * 10,
    ['yes!', 'yes!', 'yes', 'yes', 'no', 'yes.', 'yes', 'yes', 'yes', 'yes'],
    ['red white', 'red, white', 'red,white', 'red and white', 'red white', 'white', 'red', 'red white', 'pink', 'red'],
    ['1000', '1,000', '1000', '1 000', '1000', '1000', 'thousand', '1000', '1000', '1000'],
    ["don't", 'dont', "don't", 'do not', "don't", 'no', "don't", "don't", 'nope', "don't"],
    ['cat', 'cat', 'the cat', 'cat', 'kitten', 'cat', 'cat', 'cat', 'cats', 'cat'],
]


def main():
    cases = []
    for i, prediction in enumerate(PREDICTIONS):
        for answers in [HUMANS[i % len(HUMANS)], [prediction] * 3 + HUMANS[(i + 3) % len(HUMANS)][:7]]:
            normalised, accuracy = evaluator.accuracy(prediction, list(answers))
            cases.append({'prediction': prediction, 'answers': answers, 'normalised': normalised, 'accuracy': accuracy})
    out = os.path.join(HERE, '..', 'test', 'fixtures', 'vqa_official.json')
    with open(out, 'w', encoding='utf8') as f:
        json.dump({'cases': cases}, f, ensure_ascii=False)
    print(out, os.path.getsize(out), 'bytes', len(cases), 'cases')


if __name__ == '__main__':
    main()
