"""Failure markers recognised by shape: recall on markers never tuned on, false alarms on real digests.

    python bench/markers.py [--corpus DIR]

HELD_OUT below was written before the shape rules of `resummarize/detect.py` and never tuned against:
failure messages as other pipelines might write them, in each language digests are written in. Each is
put into good entries of a Chinese digest (`tests/corpus`) and of the English seed, once in one field
and once in all five; recall is the share of those entries flagged `placeholder` or `empty` (the
language check is left out of the count: in a digest of the marker's own language it does not help).

False alarms: every digest of `--corpus` and the seed, plus the seed's 96 hand-written answers and a list
of short but real English fields, are judged; every field flagged by a rule this module measures is
printed for a reader, and counted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common import REPO, record

from resummarize.detect import Placeholders, check_entry
from resummarize.digest import load
from resummarize.digest.model import Digest, Entry
from resummarize.language import resolve
from resummarize.shapes import placeholder_shape

HELD_OUT: dict[str, tuple[str, ...]] = {
    "English": ("Could not generate summary", "Summary unavailable due to API error", "LLM call failed",
                "Request timed out", "Generation error", "No output", "Analysis failed.", "Result: N/A",
                "[ERROR]", "Not generated"),
    "Chinese (Simplified)": ("总结失败", "分析出错", "生成错误", "无法获取结果", "暂无摘要", "内容生成失败，请重试",
                             "调用失败", "无结果"),
    "Chinese (Traditional)": ("摘要生成失敗", "分析錯誤", "無法取得結果", "暫無內容", "處理失敗"),
    "Japanese": ("要約に失敗しました", "生成エラー", "結果がありません", "分析できませんでした", "取得失敗"),
    "Korean": ("요약 실패", "분석 오류", "결과를 생성하지 못했습니다", "생성 오류", "요약 없음"),
    "German": ("Zusammenfassung fehlgeschlagen", "Fehler bei der Analyse", "Nicht verfügbar",
               "Kein Ergebnis vorhanden", "Generierung fehlgeschlagen"),
    "French": ("Échec de la génération", "Résumé indisponible", "Erreur lors de l'analyse", "Aucun résultat",
               "Non disponible"),
    "Spanish": ("Error al generar el resumen", "Resumen no disponible", "Falló el análisis", "Sin resultados",
                "No disponible"),
    "Russian": ("Ошибка генерации", "Не удалось создать резюме", "Результат недоступен", "Нет данных",
                "Анализ не выполнен"),
    "Vietnamese": ("Lỗi khi tạo tóm tắt", "Không có kết quả", "Tóm tắt thất bại", "Không khả dụng",
                   "Phân tích lỗi"),
    "Portuguese": ("Erro ao gerar resumo", "Resumo indisponível", "Falha na análise", "Sem resultado",
                   "Não disponível"),
}

#: Short fields a real English digest holds (a terse model, a short paper): none is a failure marker.
SHORT_REAL: tuple[str, ...] = (
    "Improves accuracy by 3%.", "Error rates fall by half.", "No retraining needed.", "Works offline.",
    "Faster training.", "None of the baselines generalise.", "Failure cases are analysed.",
    "Not available for non-English data yet.", "Unavailable labels are imputed.", "Error bounds are tight.",
    "A new benchmark.", "Fewer parameters.", "Null results for GPT-2.", "Results hold across seeds.",
    "Exact recovery.", "No free lunch.", "Errors-in-variables regression.", "Failed attempts teach too.",
)

SEED = REPO / "seeds" / "2026-01-28-cs.LG.md"
CHINESE_DAY = REPO / "tests" / "corpus" / "2026-05-02_AI_enhanced_Chinese.jsonl"


def good(digest: Digest, language: str) -> list[Entry]:
    marks, lang = Placeholders(), resolve(language)
    verdicts = [(e, check_entry(e, lang, marks)) for e in digest.entries]
    return [e for e, verdict in verdicts if not verdict.needs_repair and not verdict.refused]


def caught(entries: list[Entry], language: str, marker: str, every_field: bool) -> tuple[int, int]:
    marks, lang = Placeholders(), resolve(language)
    hits = 0
    for entry in entries:
        keys = list(entry.fields)
        fields = dict.fromkeys(keys, marker) if every_field else {**entry.fields, keys[len(keys) // 2]: marker}
        verdict = check_entry(entry.model_copy(update={"fields": fields}), lang, marks)
        hits += bool({"placeholder", "empty"} & set(verdict.fields.values()))
    return hits, len(entries)


def recall_rows() -> tuple[list[str], int, int]:
    contexts = [("English digest", good(load(SEED), "English"), "English"),
                ("Chinese digest", good(load(CHINESE_DAY), "Chinese")[:20], "Chinese")]
    rows, all_hits, all_total = [], 0, 0
    for language, markers in HELD_OUT.items():
        cells = []
        for _, entries, digest_language in contexts:
            for every in (False, True):
                hits = total = 0
                for marker in markers:
                    h, t = caught(entries, digest_language, marker, every)
                    hits, total = hits + h, total + t
                cells.append(f"{hits / total:.0%}")
                all_hits, all_total = all_hits + hits, all_total + total
        rows.append(f"| {language} | {len(markers)} | " + " | ".join(cells) + " |")
    return rows, all_hits, all_total


def false_alarms(corpus: Path) -> tuple[int, int, list[str]]:
    """(fields judged, fields flagged by a shape rule, a note per flag)."""
    judged, notes = 0, []
    texts: list[str] = []
    for path in [*sorted(p for p in corpus.iterdir() if p.suffix == ".md" or "_AI_enhanced_" in p.name), SEED]:
        for entry in load(path).entries:
            texts += list(entry.fields.values())
    for part in sorted((REPO / "cassettes" / "seed-answers").glob("*.json")):
        for fields in json.loads(part.read_text(encoding="utf-8")).values():
            texts += list(fields.values())
    texts += SHORT_REAL
    shaped = []
    for text in texts:
        judged += 1
        if placeholder_shape(text) and not Placeholders().matches(text.strip()) and text.strip():
            shaped.append(text)
    notes = [repr(text[:80]) for text in shaped]
    return judged, len(shaped), notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=REPO / "tests" / "corpus")
    args = parser.parse_args()
    rows, hits, total = recall_rows()
    judged, flagged, notes = false_alarms(args.corpus)
    body = (
        "Unseen markers (written before the rules, never tuned on), flagged `placeholder` or `empty`:\n\n"
        "| language | markers | English digest, one field | English digest, all five | Chinese digest, one field "
        "| Chinese digest, all five |\n|---|---|---|---|---|---|\n" + "\n".join(rows)
        + f"\n\nOver all: {hits} of {total} ({hits / total:.1%}).\n\n"
        f"Fields of real digests flagged by a shape rule alone (not by the list of known placeholders): "
        f"{flagged} of {judged:,} (every digest of the corpus and the seed, the seed's 96 hand-written answers, "
        f"and {len(SHORT_REAL)} short real English fields).\n"
    )
    command = "python bench/markers.py" + (f" --corpus {args.corpus}" if "--corpus" in sys.argv else "")
    record("Placeholders by shape: unseen markers, false alarms", command, body)
    print("\nflagged by shape (read each):", *notes, sep="\n  ", file=sys.stderr)


if __name__ == "__main__":
    main()
