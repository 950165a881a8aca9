//! The trained models, per language.
//!
//! Intents: English messages go to a model trained on the English examples alone (exactly the
//! model of an English-only catalog, so adding a language never changes how English is
//! understood); every other language goes to one model trained on all languages' examples
//! (measured better than a model per language for five of the six: it shares what the
//! languages have in common, and the sentence vectors carry meaning across them).
//!
//! Dialogue acts: one small model per language, trained on the English answers plus that
//! language's. The same short word is a different act in different languages ("ya" is yes in
//! Indonesian, "already" in Spanish), so a joint act model confuses them.

use std::collections::HashMap;

use crate::acts::{Act, ActModel};
use crate::catalog::{Catalog, ENGLISH, IntentKind};
use crate::classifier::persist::{PersistError, Reader, Writer};
use crate::classifier::{Classifier, ClassifierConfig, ClassifierError};

use super::EngineError;

/// Every trained model of an engine.
#[derive(Debug)]
pub(crate) struct Models {
    /// Intents, trained on the English examples.
    pub(crate) english: Classifier,
    /// Intents, trained on every language's examples (`None`: the catalog has only English).
    pub(crate) joint: Option<Classifier>,
    /// Acts, trained on the English answers.
    pub(crate) acts: Option<ActModel>,
    /// Acts per other language: (code, model trained on English's and that language's answers).
    pub(crate) lang_acts: Vec<(String, ActModel)>,
}

impl Models {
    /// The intent model for a message in language `lang` (English's when `None`).
    pub(crate) fn intents(&self, lang: Option<&str>) -> &Classifier {
        match (lang, &self.joint) {
            (Some(l), Some(joint)) if l != ENGLISH => joint,
            _ => &self.english,
        }
    }

    /// The act model for a message in language `lang`.
    pub(crate) fn acts(&self, lang: Option<&str>) -> Option<&ActModel> {
        lang.and_then(|l| self.lang_acts.iter().find(|(c, _)| c == l))
            .map(|(_, m)| m)
            .or(self.acts.as_ref())
    }

    /// Trains every model. `vectors` are the sentence vectors of
    /// [`super::Engine::training_texts`] (all languages), when there is an encoder.
    pub(crate) fn train(
        catalog: &Catalog,
        vectors: Option<&[Vec<f32>]>,
    ) -> Result<Self, EngineError> {
        let english_catalog = catalog.with_examples_of(&[ENGLISH]);
        let english_data = english_catalog.training_data();
        let joint_data = catalog.training_data();
        let multilingual = joint_data.examples.len() + joint_data.out_of_scope.len()
            > english_data.examples.len() + english_data.out_of_scope.len();
        // The English model's vectors: the English texts are among the joint ones.
        let english_vectors = vectors.map(|all| {
            let texts = super::Engine::training_texts(catalog);
            let by_text: HashMap<&str, &Vec<f32>> = texts
                .iter()
                .zip(all)
                .map(|(t, v)| (t.as_str(), v))
                .collect();
            english_data
                .examples
                .iter()
                .map(|(t, _)| t)
                .chain(&english_data.out_of_scope)
                .map(|t| {
                    by_text
                        .get(t.as_str())
                        .map(|v| (*v).clone())
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>()
        });
        let training = |source| EngineError::Training {
            origin: catalog.origin.clone(),
            source,
        };
        let config = ClassifierConfig::default();
        let (english, joint, acts) = std::thread::scope(|s| {
            let joint = multilingual
                .then(|| s.spawn(|| Classifier::train_with_vectors(&joint_data, &config, vectors)));
            let acts = s.spawn(|| Self::train_acts(catalog));
            let english =
                Classifier::train_with_vectors(&english_data, &config, english_vectors.as_deref());
            let failed = || Err(ClassifierError::Empty);
            let joint = joint.map(|h| h.join().unwrap_or_else(|_| failed()));
            // A panic in a trainer is a bug; surface it as the training error it is.
            let acts = acts.join().unwrap_or_else(|_| {
                Err(EngineError::Acts {
                    origin: catalog.origin.clone(),
                    source: ClassifierError::Empty,
                })
            });
            (english, joint, acts)
        });
        let (acts, lang_acts) = acts?;
        Ok(Self {
            english: english.map_err(training)?,
            joint: joint.transpose().map_err(training)?,
            acts,
            lang_acts,
        })
    }

    /// Trains the act classifiers: the act examples, against the intents' and the
    /// out-of-scope examples as "not an answer" (except those that are answers in a guide:
    /// asking for a person, thanks, goodbye and vague complaints such as "it doesn't work").
    #[allow(clippy::type_complexity)]
    fn train_acts(
        catalog: &Catalog,
    ) -> Result<(Option<ActModel>, Vec<(String, ActModel)>), EngineError> {
        if catalog.acts.iter().all(|(_, e)| e.is_empty()) {
            return Ok((None, Vec::new()));
        }
        let failed = |source| EngineError::Acts {
            origin: catalog.origin.clone(),
            source,
        };
        // "Not an answer": the intents' examples (but asking for a person, thanks, goodbye
        // and vague complaints, which are answers in a guide) and the out-of-scope ones, in
        // English and, for a language's model, in that language.
        let none_in = |language: Option<&crate::catalog::Language>| -> Vec<String> {
            let mut none: Vec<String> = catalog
                .intents
                .iter()
                .filter(|i| matches!(i.kind, IntentKind::Guide | IntentKind::Greeting))
                .flat_map(|i| i.examples.iter().cloned())
                .chain(catalog.out_of_scope.iter().cloned())
                .collect();
            if let Some(l) = language {
                for i in &catalog.intents {
                    if matches!(i.kind, IntentKind::Guide | IntentKind::Greeting)
                        && let Some(ex) = l.examples.get(&i.id)
                    {
                        none.extend(ex.iter().cloned());
                    }
                }
                none.extend(l.out_of_scope.iter().cloned());
            }
            none
        };
        let english: Vec<_> = catalog
            .acts
            .iter()
            .flat_map(|(act, ex)| ex.iter().map(move |e| (*act, e.clone())))
            .collect();
        let acts = ActModel::train(&english, &none_in(None)).map_err(failed)?;
        let mut lang_acts = Vec::new();
        for language in catalog.languages.iter().skip(1) {
            if language.acts.is_empty() {
                continue;
            }
            let mut examples = english.clone();
            examples.extend(
                language
                    .acts
                    .iter()
                    .flat_map(|(act, ex)| ex.iter().map(move |e| (*act, e.clone()))),
            );
            let model = ActModel::train(&examples, &none_in(Some(language))).map_err(failed)?;
            lang_acts.push((language.code.clone(), model));
        }
        Ok((Some(acts), lang_acts))
    }

    /// Writes every model (see [`Models::read`]).
    pub(crate) fn write(&self, w: &mut Writer) {
        self.english.write(w);
        match &self.joint {
            Some(j) => {
                w.u32(1);
                j.write(w);
            }
            None => w.u32(0),
        }
        match &self.acts {
            Some(a) => {
                w.u32(1);
                a.write(w);
            }
            None => w.u32(0),
        }
        w.usize(self.lang_acts.len());
        for (code, model) in &self.lang_acts {
            w.str(code);
            model.write(w);
        }
    }

    /// Reads what [`Models::write`] wrote.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, PersistError> {
        let english = Classifier::read(r)?;
        let joint = match r.u32("joint")? {
            0 => None,
            _ => Some(Classifier::read(r)?),
        };
        let acts = match r.u32("acts")? {
            0 => None,
            _ => Some(ActModel::read(r)?),
        };
        let n = r.len(8, "language acts")?;
        let mut lang_acts = Vec::with_capacity(n);
        for _ in 0..n {
            let code = r.str("language code")?;
            lang_acts.push((code, ActModel::read(r)?));
        }
        Ok(Self {
            english,
            joint,
            acts,
            lang_acts,
        })
    }
}

/// One language's plain yes and no words, as written and with repeated letters squeezed
/// ("yesss", "nooo", "siii", "нееет" are "yes", "no", "si", "нет").
#[derive(Debug, Clone, Default)]
pub(crate) struct PlainAnswers {
    exact: HashMap<String, Act>,
    squeezed: HashMap<String, Act>,
}

impl PlainAnswers {
    /// What the one folded word `word` plainly answers: yes, no, or nothing.
    pub(crate) fn get(&self, word: &str) -> Option<Act> {
        self.exact
            .get(word)
            .or_else(|| self.squeezed.get(&squeeze(word)))
            .copied()
    }
}

/// `word` with every run of one letter cut to one ("yesss" → "yes").
fn squeeze(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        if !out.ends_with(c) {
            out.push(c);
        }
    }
    out
}

/// Per language (English included), the one-word answers that mean a plain yes or no there
/// ("yes", "нет", "نعم", "nahi", "belum"): the `yes` and `no` of its `cues.toml`, and the
/// one-word affirm and deny examples of its own act examples (English's `acts.toml` is left
/// out: it holds other languages' answers too). A word that is an example of two acts means
/// neither for sure; the cue lists decide over the examples. The policy reads an answer that
/// opens with one ("нет, не помогло", "نعم، اشتغل") as that answer even when the act model is
/// unsure of the rest, in every language alike.
pub(crate) fn plain_answers(catalog: &Catalog) -> HashMap<String, PlainAnswers> {
    let mut out = HashMap::new();
    for (i, language) in catalog.languages.iter().enumerate() {
        let mut words: HashMap<String, Option<Act>> = HashMap::new();
        if i > 0 {
            for (act, examples) in &language.acts {
                for e in examples {
                    let said = crate::catalog::cues::words(&crate::normalize::normalize(e));
                    let [word] = said.as_slice() else {
                        continue;
                    };
                    words
                        .entry(word.clone())
                        .and_modify(|a| {
                            if *a != Some(*act) {
                                *a = None;
                            }
                        })
                        .or_insert(Some(*act));
                }
            }
        }
        for (act, list) in [
            (Act::Affirm, &language.cues.yes),
            (Act::Deny, &language.cues.no),
        ] {
            for word in list.iter().filter(|w| !w.contains(' ')) {
                words.insert(word.to_string(), Some(act));
            }
        }
        let exact: HashMap<String, Act> = words
            .into_iter()
            .filter_map(|(w, a)| {
                a.filter(|a| matches!(a, Act::Affirm | Act::Deny))
                    .map(|a| (w, a))
            })
            .collect();
        let mut squeezed: HashMap<String, Option<Act>> = HashMap::new();
        for (w, a) in &exact {
            squeezed
                .entry(squeeze(w))
                .and_modify(|x| {
                    if *x != Some(*a) {
                        *x = None;
                    }
                })
                .or_insert(Some(*a));
        }
        let squeezed = squeezed
            .into_iter()
            .filter_map(|(w, a)| a.map(|a| (w, a)))
            .collect();
        out.insert(language.code.clone(), PlainAnswers { exact, squeezed });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeezes_runs_of_a_letter() {
        assert_eq!(squeeze("yesss"), "yes");
        assert_eq!(squeeze("нееет"), "нет");
        assert_eq!(squeeze("no"), "no");
    }
}
