"""py3langid's model, read for a load in the background.

py3langid's own loader decompresses its model in ~700 small calls, each of which gives the GIL back and
waits to retake it: while the main thread imports and plans, a load in the background took ~3x longer
than alone. Read here with one decompression call, it costs about what it costs alone.
"""

from __future__ import annotations

from typing import Any


def read_model() -> Any:
    """py3langid's `LanguageIdentifier` (probabilities normalised), its model decompressed in one call;
    any other model layout (a newer py3langid) is loaded by py3langid itself."""
    import io
    import lzma

    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    try:
        import numpy as np  # py3langid's own dependency, used here only as py3langid uses it
        from py3langid.modelio import _to_array

        raw = lzma.decompress((MODEL_DIR / MODEL_FILE).read_bytes())
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            return LanguageIdentifier(
                np.asarray(data["ptc"]), np.asarray(data["pc"]), data["classes"].tolist(),
                _to_array(data["nextmove"]), data["out_feat"].tolist(), norm_probs=True,
                tk_row=_to_array(data["nextmove_row"]))
    except (ImportError, AttributeError, KeyError, TypeError, ValueError, lzma.LZMAError):  # another layout
        return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
