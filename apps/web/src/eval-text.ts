/**
 * The default text the compare card scores dense and compressed models on: a short story in the style of
 * TinyStories (stories15M's training data), written for this app, so perplexity is measured in-domain without
 * shipping any data set. About 200 tokens: one forward pass per model even on the CPU reference.
 */
export const EVAL_TEXT = `Once upon a time, there was a little girl named Lily. She lived in a small house with her mom, her dad and a big brown dog named Max. Every morning, Lily and Max went to the park to play.
One day, Lily saw a red ball under a tree. She ran to the ball and picked it up. "Look, Max! A ball!" she said. Max barked and wagged his tail. Lily threw the ball, and Max ran very fast to get it.
Then the sky got dark and it started to rain. Lily was sad because she wanted to play more. Her mom said, "Don't be sad, Lily. We can play inside." They went home and made a big tent with blankets. Lily, Max and her mom sat in the tent and ate cookies.
Lily smiled. She learned that a rainy day can be fun too.`;
