import { describe, expect, it } from 'vitest';
import { answerClass, keywordClassifier } from '../../src/experiments/probes/answerClass.js';

const AGE = ['child', 'adolescent', 'adult', 'older adult'];
const EDU = ['some school', 'high school', 'college and more'];
const SES = ['low', 'middle', 'high'];

describe('answerClass', () => {
  it('reads the one class an answer names, longest names first', () => {
    expect(answerClass('You seem to be an older adult.', AGE)).toBe('older adult');
    expect(answerClass('You seem to be an adult.', AGE)).toBe('adult');
    expect(answerClass('Your education level seems to be high school.', EDU)).toBe('high school');
    expect(answerClass('Your socioeconomic status seems to be HIGH!', SES)).toBe('high');
    expect(answerClass('You seem to be non-binary. Nice!', ['male', 'female', 'non-binary'])).toBe('non-binary');
    expect(answerClass('You seem to be female.', ['male', 'female', 'non-binary'])).toBe('female');
  });

  it('gives null for none or several classes', () => {
    expect(answerClass('I cannot tell your age from what you said.', AGE)).toBeNull();
    expect(answerClass('Either a child or an adult.', AGE)).toBeNull();
    expect(answerClass('Gardening is fun.', ['male', 'female'])).toBeNull();
  });

  it('uses extra keywords per class', () => {
    const classify = keywordClassifier({ age: { 'older adult': ['retiree', 'senior'] } });
    expect(classify('age', 'You sound like a senior.', AGE)).toBe('older adult');
    expect(classify('gender', 'You sound like a senior.', ['male', 'female'])).toBeNull();
  });
});
