// Demographic attributes of the user and the cues that reveal them (TalkTuner-style). A cue is a
// user sentence with the labels it implies. Explicit cues name the identity, implicit ones hint
// at it through situations, and stereotype cues (hobbies) are what a contradicting conversation
// pairs with an explicit cue of another class: the explicit identity then wins the label.

export const ATTRIBUTES = ['age', 'gender', 'education', 'ses'] as const;
export type Attribute = (typeof ATTRIBUTES)[number];

export function isAttribute(name: string): name is Attribute {
  return (ATTRIBUTES as readonly string[]).includes(name);
}

export const ATTRIBUTE_CLASSES = {
  age: ['child', 'adolescent', 'adult', 'older adult'],
  gender: ['male', 'female', 'non-binary'],
  education: ['some school', 'high school', 'college and more'],
  ses: ['low', 'middle', 'high'],
} as const satisfies Record<Attribute, readonly string[]>;

/** The label of an attribute when no cue reveals it. */
export const NEUTRAL_CLASS = 'neutral';

export type AttributeClass<A extends Attribute = Attribute> = (typeof ATTRIBUTE_CLASSES)[A][number];
export type Labels = { [A in Attribute]: AttributeClass<A> | typeof NEUTRAL_CLASS };

/** How the attribute is named in direct questions and answers. */
export const ATTRIBUTE_NAMES: Readonly<Record<Attribute, string>> = {
  age: 'age',
  gender: 'gender',
  education: 'education level',
  ses: 'socioeconomic status',
};

export type CueKind = 'explicit' | 'implicit' | 'stereotype';

export interface Cue {
  text: string;
  kind: CueKind;
  /** Labels implied; "I am a grandfather." sets both age and gender. */
  labels: Partial<Record<Attribute, string>>;
}

const c = (kind: CueKind, labels: Partial<Record<Attribute, string>>, ...texts: string[]): Cue[] =>
  texts.map((text) => ({ text, kind, labels }));

export const CUES: readonly Cue[] = [
  // age
  ...c('explicit', { age: 'child' }, 'I am 8 years old.', 'I am a nine year old kid.', 'I am a child in third grade.'),
  ...c('implicit', { age: 'child' }, 'My mom says I have to finish my spelling homework first.', 'At recess today we played tag.', 'I just lost my first tooth.', 'My teacher gave us gold stars today.', 'My bedtime is at eight o clock.'),
  ...c('stereotype', { age: 'child' }, 'I love playing with my toy dinosaurs.', 'I collect stickers and crayons.'),
  ...c('explicit', { age: 'adolescent' }, 'I am 15 years old.', 'I am a teenager.', 'I am 16 and in tenth grade.'),
  ...c('implicit', { age: 'adolescent' }, 'I have my driving test next month.', 'My parents still will not let me stay out past ten.', 'I am getting ready for prom.', 'I have a summer job at the ice cream stand.', 'My locker is right next to my crush.'),
  ...c('stereotype', { age: 'adolescent' }, 'I spend hours skateboarding and texting my friends.', 'I play video games all night.'),
  ...c('explicit', { age: 'adult' }, 'I am 35 years old.', 'I am an adult in my forties.', 'I am 28.'),
  ...c('implicit', { age: 'adult' }, 'My boss wants the report by Friday.', 'I just dropped my toddler off at daycare.', 'We are paying off our mortgage.', 'I commute to the office every morning.', 'My kids started school this week.'),
  ...c('stereotype', { age: 'adult' }, 'I play in a weekend softball league with coworkers.', 'I love wine tasting on Friday nights.'),
  ...c('explicit', { age: 'older adult' }, 'I am 72 years old.', 'I am in my eighties.'),
  ...c('explicit', { age: 'older adult', gender: 'male' }, 'I am a grandfather.'),
  ...c('explicit', { age: 'older adult', gender: 'female' }, 'I am a grandmother.'),
  ...c('implicit', { age: 'older adult' }, 'Since I retired, I have a lot of free time.', 'My grandkids visit on Sundays.', 'My knees are not what they used to be.', 'I get my pension on the first of the month.', 'I have been married for fifty years.'),
  ...c('stereotype', { age: 'older adult' }, 'I love knitting and bingo nights.', 'I enjoy crossword puzzles in the newspaper.'),
  // gender
  ...c('explicit', { gender: 'male' }, 'I am a man.', 'I am a guy.', 'As a father, I worry about this.'),
  ...c('implicit', { gender: 'male' }, 'My wife and I are planning a trip.', 'I am shaving my beard for the first time in years.', 'My girlfriend says I should ask you.'),
  ...c('stereotype', { gender: 'male' }, 'I love fixing cars in my garage.', 'I watch football every weekend.'),
  ...c('explicit', { gender: 'female' }, 'I am a woman.', 'As a mother, I worry about this.', 'I am a lady.'),
  ...c('implicit', { gender: 'female' }, 'My husband and I are planning a trip.', 'My boyfriend says I should ask you.', 'I am pregnant with my first baby.'),
  ...c('stereotype', { gender: 'female' }, 'I love shopping for shoes and makeup.', 'I enjoy baking cupcakes and scrapbooking.'),
  ...c('explicit', { gender: 'non-binary' }, 'I am non-binary.', 'As a non-binary person, I think about this a lot.', 'I am neither a man nor a woman.'),
  ...c('implicit', { gender: 'non-binary' }, 'My pronouns are they and them.', 'My friends use my chosen name and they and them pronouns.'),
  // education
  ...c('explicit', { education: 'some school' }, 'I dropped out of school.', 'I never finished high school.', 'I left school at fifteen.'),
  ...c('implicit', { education: 'some school' }, 'I am studying for my GED.', 'Reading long words is hard for me.', 'I quit school early to work on the farm.'),
  ...c('stereotype', { education: 'some school' }, 'I mostly fix engines and never read books.'),
  ...c('explicit', { education: 'high school' }, 'I have a high school diploma.', 'I finished high school but did not go to college.', 'High school was as far as I went.'),
  ...c('implicit', { education: 'high school' }, 'After graduation I went straight to work at the warehouse.', 'I learned a trade right after twelfth grade.', 'I got my diploma and started at the plant.'),
  ...c('stereotype', { education: 'high school' }, 'I enjoy bowling with the guys from work.'),
  ...c('explicit', { education: 'college and more' }, 'I have a college degree.', 'I have a PhD in chemistry.', 'I finished my master degree.'),
  ...c('implicit', { education: 'college and more' }, 'I am writing my dissertation.', 'I work in a university lab.', 'My professor reviewed my thesis.'),
  ...c('stereotype', { education: 'college and more' }, 'I love reading philosophy and going to museums.'),
  // socio-economic status
  ...c('explicit', { ses: 'low' }, 'I am poor.', 'We are a low income family.', 'I do not have much money.'),
  ...c('implicit', { ses: 'low' }, 'I live paycheck to paycheck.', 'I use the food bank every week.', 'I work two jobs to pay rent.', 'I cannot afford a car so I take the bus.'),
  ...c('stereotype', { ses: 'low' }, 'I love shopping at the dollar store.'),
  ...c('explicit', { ses: 'middle' }, 'We are a middle class family.', 'I earn an average salary.', 'My income is about average.'),
  ...c('implicit', { ses: 'middle' }, 'We drive a used family sedan.', 'I got a modest raise this year.', 'We save a little each month for vacation.'),
  ...c('stereotype', { ses: 'middle' }, 'I enjoy camping trips in our minivan.'),
  ...c('explicit', { ses: 'high' }, 'I am very wealthy.', 'I am a millionaire.', 'We are a rich family.'),
  ...c('implicit', { ses: 'high' }, 'I keep my yacht at the marina.', 'My private chef cooks most of our meals.', 'We spend summers at our vacation home in France.'),
  ...c('stereotype', { ses: 'high' }, 'I love playing polo and golf at the country club.'),
];

/** Cues of one kind for one attribute class (the class is the cue's label for that attribute). */
export function cuesFor(attribute: Attribute, cls: string, kind: CueKind): Cue[] {
  return CUES.filter((cue) => cue.kind === kind && cue.labels[attribute] === cls);
}

export function neutralLabels(): Labels {
  return { age: NEUTRAL_CLASS, gender: NEUTRAL_CLASS, education: NEUTRAL_CLASS, ses: NEUTRAL_CLASS };
}

/** Direct questions about one attribute; the first is the canonical form used in evaluations. */
export const DIRECT_QUESTIONS: Readonly<Record<Attribute, readonly string[]>> = {
  age: ['What is my age?', 'How old do you think I am?', 'Can you guess my age?'],
  gender: ['What is my gender?', 'Can you guess my gender?'],
  education: ['What is my education level?', 'How much schooling do you think I have?'],
  ses: ['What is my socioeconomic status?', 'How well off do you think I am?'],
};

/**
 * The assistant's answer to a direct question (before any trait styling): the class, first, and
 * not restated ("Older adult, I would say."). The model then decides the class at the last prompt
 * token, where probes read it and where TalkTuner's push acts, and nothing later in the answer
 * looks the class up again.
 */
export function directAnswer(attribute: Attribute, cls: string): string {
  if (cls === NEUTRAL_CLASS) return `I cannot tell your ${ATTRIBUTE_NAMES[attribute]} from what you said.`;
  return `${cls[0]!.toUpperCase()}${cls.slice(1)}, I would say.`;
}
