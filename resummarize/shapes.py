"""What a failure marker looks like, in any wording: the shape of a field that is not a summary.

Pipelines write their own markers when the LLM call fails (`?`, `N/A`, `No AI result`, `요약 생성 실패`,
`要約の生成に失敗しました`), in the digest's language, and no list keeps up with them. A field is a
marker when it has no letter or digit, is far too short to be a summary in any script, opens like an
error message, or is short and made only of failure words and the words around them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from resummarize.digest.model import FIELDS
from resummarize.language import CJK_CHARACTER

#: Words that say the call failed or nothing came back, in the languages digests are written in (lower
#: case, NFKC; negations included: `no`, `nicht`, `không`). A short field made of these and `_FILLER`
#: words alone, with at least one of these, is a placeholder, whatever its wording.
_FAILURE = """
error errors err failed fail fails failure unavailable none null nil n/a undefined nan unknown timeout
timed exception tbd todo pending skipped missing empty invalid placeholder no not non
失败 错误 出错 报错 异常 超时 暂无 无 缺失 不可用 无法 未能 没有 空
失敗 錯誤 出錯 報錯 異常 超時 暫無 無 無法 沒有
エラー 失敗 なし ありません できません できませんでした 不明 該当なし 利用不可
실패 오류 에러 없음 없습니다 못했습니다 불가 실패했습니다
fehler fehlgeschlagen fehlerhaft nicht unverfügbar kein keine keiner
erreur échec échoué échouée indisponible aucun aucune pas
fallo falló fallido fallida ninguno ninguna errores sin
ошибка ошибки сбой удалось недоступно недоступен недоступна нет отсутствует не
lỗi thất bại không
erro falhou falha indisponível não nenhum nenhuma sem
"""
#: What a pipeline's failure message says around those words: the field names, what was being done, to
#: what, and the glue of a short sentence. Alone they are not a failure (`Summary` is a word, not a
#: marker); with a failure word and nothing else they are.
_FILLER = """
a an the to of in on for while during when at by with from please try again retry later out
could can cannot be was were is are been has have had yet
ai llm gpt model api openai response output result results content data summary summaries tldr
motivation method methods conclusion abstract analysis generation extraction processing parsing
summarization summarisation request call available found generated provided returned produced
generate generating extract extracting process parse accessing access fetching get getting reading
detail details message code status internal server service unexpected occurred
摘要 总结 生成 分析 结果 内容 方法 动机 结论 解析 处理 调用 获取 请求 请 重试 稍后 再 暂 时 的 了
總結 結果 內容 動機 結論 處理 調用 獲取 請求 請 重試 稍後 暫
要約 生成 分析 結果 内容 方法 結論 取得 処理 の に が を は で しました ました できない
요약 생성 분석 결과 내용 방법 결론 처리 를 을 이 가 에 하지 수 할 사용
zusammenfassung ergebnis ergebnisse analyse generierung erstellung inhalt bei der die das beim vorhanden
verfügbar résumé résultat résultats génération contenu de la le les du lors des disponible
resumen resultado resultados análisis generación contenido al el los del
резюме результат результаты анализ генерации генерация содержимое данные данных при
tóm tắt kết quả phân tích tạo nội dung khi có khả dụng thể
resumo análise geração conteúdo ao do da
"""
#: A field with fewer letters and digits than this (a CJK character counts two) is no summary, in any
#: script: `?`, `-`, `N/A`, `无`, `OK`.
SHORT_MIN = 4
#: Failure messages are short: only fields up to this length are read word by word.
SHAPE_MAX = 80

_FAILURE_WORDS = frozenset(_FAILURE.split())
_VOCABULARY = _FAILURE_WORDS | frozenset(_FILLER.split())
#: Every letter the vocabulary spells: a field holding any other letter or digit is no marker, and most
#: short summaries (Chinese ones above all) are told by that alone, before the word-by-word reading.
_VOCABULARY_LETTERS = frozenset(ch for word in _VOCABULARY for ch in word if ch.isalnum())


def _class_without(ranges: Iterable[tuple[int, int]], excluded: Iterable[str]) -> str:
    """A regex character class of the code point ranges, less the excluded characters."""
    parts, holes = [], sorted(ord(ch) for ch in excluded)
    for low, high in ranges:
        start = low
        for hole in (h for h in holes if low <= h <= high):
            if start < hole:
                parts.append(f"{re.escape(chr(start))}-{re.escape(chr(hole - 1))}")
            start = hole + 1
        if start <= high:
            parts.append(f"{re.escape(chr(start))}-{re.escape(chr(high))}")
    return "[" + "".join(parts) + "]"


#: A letter that NFKC and case folding leave as it is (an ASCII digit, a Han ideograph) and that no
#: vocabulary word spells: one settles a field before it is folded, which most Chinese fields' full-width
#: punctuation makes the costly step.
_STRANGER = re.compile(_class_without([(0x30, 0x39), (0x3400, 0x4DBF), (0x4E00, 0x9FFF)], _VOCABULARY_LETTERS))


def _alternation(words: Iterable[str]) -> str:
    return "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))


#: A spaced word must stand alone (`error` is not in `errors-in-variables`); a CJK word has no spaces
#: around it, so it is found anywhere.
_WORDS = re.compile(
    r"(?<![\w'-])(?:" + _alternation(w for w in _VOCABULARY if not CJK_CHARACTER.match(w)) + r")(?![\w'-])|"
    + _alternation(w for w in _VOCABULARY if CJK_CHARACTER.match(w))
)
#: A failure word and a colon open an error message, however long the message after it is.
_ERROR_OPENING = re.compile(
    r"\W*(?:error|erreur|fehler|erro|ошибка|lỗi|exception|failed|错误|錯誤|エラー|오류|에러)\s*[:：]", re.IGNORECASE)


def _too_short(text: str) -> bool:
    """Fewer than `SHORT_MIN` letters and digits, a CJK character counted twice (it carries about a word).
    The count stops once it is reached: every field of a scan comes through here."""
    weight = 0
    for ch in text:
        if ch.isalnum():
            weight += 2 if CJK_CHARACTER.match(ch) else 1
            if weight >= SHORT_MIN:
                return False
    return True


def placeholder_shape(text: str) -> bool:
    """True when a field is a failure marker by its shape rather than by the list: no letter or digit at
    all (`?`, `-`, `...`), far too short to be a summary in any script, an error message opening
    (`Fehler: ...`), or a short field made only of failure words and the words around them
    (`No AI result`, `要約の生成に失敗しました`, `요약 생성 실패`)."""
    stripped = text.strip()
    if not stripped:
        return False
    if _ERROR_OPENING.match(stripped[:24]):
        return True
    if len(stripped) > SHAPE_MAX:
        return False
    if _too_short(stripped):
        return True
    if _STRANGER.search(stripped):
        return False
    folded = unicodedata.normalize("NFKC", stripped).casefold()
    if not _VOCABULARY_LETTERS.issuperset(ch for ch in folded if ch.isalnum()):
        return False
    if not any(word in _FAILURE_WORDS for word in _WORDS.findall(folded)):
        return False
    return not any(ch.isalnum() for ch in _WORDS.sub(" ", folded))


def same_short_text(texts: Sequence[str]) -> bool:
    """The same short text in every field of an entry: a pipeline's marker, not five summaries."""
    first = texts[0].strip() if texts else ""
    return len(texts) >= len(FIELDS) and 0 < len(first) <= SHAPE_MAX and all(t.strip() == first for t in texts)
